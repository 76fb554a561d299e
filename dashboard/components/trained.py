"""Finished runs for the Evaluate and Playground pages: choosing one, its report, and engine commands run in a
child process (exporting and evaluating need torch, which the dashboard never imports)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.components import state
from db import access
from db.access import ACTING_AS
from db.models import RunStatus

ROOT = Path(__file__).resolve().parents[2]


def choose_finished_run(title: str, empty_message: str) -> dict[str, Any] | None:
    """Show the page title and a choice of finished runs (kept in the URL); give back the chosen run or None."""
    st.title(title)
    finished = [r for r in state.runs() if r["status"] == RunStatus.COMPLETED]
    if not finished:
        st.info(empty_message)
        return None
    labels = {r["id"]: f"Run {r['id']}: {r['model']} on '{r['dataset']}'" + (f" ({r['name']})" if r["name"] else "")
              for r in finished}
    wanted = state.query_int("run")
    ids = list(labels)
    run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in labels else 0, format_func=labels.get,
                          key="chosen-run")
    st.query_params["run"] = str(run_id)
    return next(r for r in finished if r["id"] == run_id)


def run_engine(*args: str, timeout: float = 600, acting: bool = False) -> tuple[bool, Any]:
    """Run `python -m engine ARGS --json` in a child process; give back (True, document) or (False, message).

    acting: the command acts for the page's signed-in person (their role is checked and the audit trail names
    them); without it, it is the dashboard's own work (the Playground preparing its model, an evaluation).
    """
    env = None
    if acting:
        env = {**os.environ, ACTING_AS: json.dumps(dataclasses.asdict(access.current_actor()))}
    try:
        result = subprocess.run([sys.executable, "-m", "engine", *args, "--json"], cwd=ROOT, capture_output=True,
                                text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return False, f"This took more than {timeout / 60:.0f} minutes and was stopped. Try again later."
    if result.returncode == 0:
        return True, json.loads(result.stdout)
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("Error: ")]
    return False, lines[-1].removeprefix("Error: ") if lines else "It did not work; the command line shows why: " \
        f"`python -m engine {' '.join(args)}`."


@st.cache_data(show_spinner=False, max_entries=32)
def _read_json(path: str, modified: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def read_json(path: Path) -> dict[str, Any] | None:
    """Give back the JSON document at path (cached until the file changes), or None when there is none."""
    try:
        return _read_json(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None
