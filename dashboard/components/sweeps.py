"""Sweeps on the pages: cached queries, the sweep of each trial in the runs lists, and Auto's start box."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.components import state
from dashboard.components.nav import go
from dashboard.components.text import markdown_safe
from db import repo
from db.models import RunStatus, SweepStatus
from db.session import database_url
from engine.errors import UserError
from engine.models.registry import MODELS
from engine.presets import auto_space, suggested_model
from engine.search import results, sweeps
from engine.search.trials import run_value

SWEEP_WORDS = {SweepStatus.RUNNING: "Running", SweepStatus.COMPLETED: "Finished", SweepStatus.CANCELLED: "Cancelled"}
ENDED = (RunStatus.COMPLETED, RunStatus.PRUNED, RunStatus.FAILED, RunStatus.CANCELLED)


@st.cache_data(ttl=2, show_spinner=False)
def _document(url: str, sweep_id: int) -> dict[str, Any] | None:
    try:
        return results.sweep_document(sweep_id)
    except UserError:
        return None


def document(sweep_id: int) -> dict[str, Any] | None:
    """Give back the sweep's document (settings, trials, best, importance), or None when there is no such sweep."""
    return _document(database_url(), sweep_id)


def clear_caches() -> None:
    _document.clear()
    state.clear_caches()


# A finished trial's figure never changes, so the best of a sweep is kept until another trial finishes.
@st.cache_data(ttl=3600, show_spinner=False, max_entries=256)
def _best_value(url: str, sweep_id: int, metric: str, direction: str, finished: int) -> float | None:
    values = [run_value(run, metric, direction) for run in repo.sweep_runs(sweep_id)
              if run["status"] == RunStatus.COMPLETED]
    values = [value for value in values if value is not None]
    return (max if direction == "maximize" else min)(values) if values else None


def best_value(sweep: dict[str, Any]) -> float | None:
    """Give back the best figure of a sweep's finished trials (from repo.list_sweeps), or None."""
    finished = sweep["counts"].get(RunStatus.COMPLETED, 0)
    if not finished:
        return None
    return _best_value(database_url(), sweep["id"], sweep["metric"], sweep["direction"], finished)


def sweep_of(runs: list[dict[str, Any]]) -> dict[int, str]:
    """Give back {run id: its sweep's name} for the runs that are trials of a sweep."""
    names = repo.sweep_names(run.get("sweep_id") for run in runs)
    return {run["id"]: names[run["sweep_id"]] for run in runs if run.get("sweep_id") in names}


def ended(counts: dict[str, int]) -> int:
    return sum(counts.get(status, 0) for status in ENDED)


def start_auto(dataset: dict[str, Any], key: str) -> None:
    """Draw Auto's time budget, what it will do, and its start button; a start opens the new sweep's page."""
    # No lower bound on the widget, which would silently change 0.5 into 1: the engine refuses it in words.
    minutes = st.number_input("Time budget (minutes)", min_value=0.0, value=10.0, step=1.0, format="%g",
                              key=f"{key}-minutes", help=f"At least {sweeps.MIN_BUDGET_SECONDS // 60:.0f}. Auto "
                              "starts no new trial after this time and stops the ones still training.")
    models, _ = auto_space(dataset)
    first = suggested_model(dataset)
    first = first if first in models else models[0]
    titles = " and the ".join(MODELS[name].title for name in models)
    st.caption(f"Auto tries the {titles} with several settings for {minutes:g} minutes and keeps the best. Its "
               f"first trial is the Balanced preset of the {MODELS[first].title}, so you see by how much the search "
               "beat it.")
    if st.button("Start Auto", type="primary", icon=":material/auto_awesome:", key=key):
        try:
            sweep = sweeps.create_auto(dataset, sweeps.parse_budget(f"{minutes}m"))
        except UserError as error:
            st.error(markdown_safe(error))
            return
        clear_caches()
        state.ensure_local_worker()
        go("sweeps", sweep=sweep["id"])
