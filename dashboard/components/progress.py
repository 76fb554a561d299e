"""Long work on a page (import, cleaning, evaluation, export) with a progress bar and the time left.

The work runs in a helper thread that never calls Streamlit; the page's own thread draws the bar.
How long each kind of work takes per megabyte is learned from the last runs on this machine and kept
in $TRAINYARD_HOME/work_rates.json, so the estimate improves with use.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from db import access

from db.session import trainyard_home
from dashboard.components.state import duration

T = TypeVar("T")

# First guesses, in seconds: a fixed start-up part plus a part per megabyte of input.
DEFAULT_RATES = {"import": (2.0, 0.05), "clean": (1.5, 0.03), "evaluate": (8.0, 0.0), "export": (25.0, 0.0),
                 "compress": (30.0, 0.0)}


def _rates_path():
    return trainyard_home() / "work_rates.json"


def _load_rates() -> dict[str, list[float]]:
    try:
        return json.loads(_rates_path().read_text())
    except (OSError, ValueError):
        return {}


def expected_seconds(task: str, megabytes: float = 0.0) -> float:
    """Give back how long task should take for an input of this size, from past runs or first guesses."""
    fixed, per_mb = _load_rates().get(task) or DEFAULT_RATES[task]
    return fixed + per_mb * megabytes


def _learn(task: str, megabytes: float, seconds: float) -> None:
    """Move the stored rate a third of the way towards what this run took."""
    rates = _load_rates()
    fixed, per_mb = rates.get(task) or DEFAULT_RATES[task]
    if megabytes > 1:
        per_mb += (max(seconds - fixed, 0.0) / megabytes - per_mb) / 3
    else:
        fixed += (seconds - fixed) / 3
    rates[task] = [round(fixed, 4), round(per_mb, 6)]
    try:
        _rates_path().write_text(json.dumps(rates))
    except OSError:
        pass


def run_with_progress(task: str, label: str, work: Callable[[], T], megabytes: float = 0.0) -> T:
    """Run work() while a bar shows how far along it should be and the time left; give back its result.

    An error raised by work() is raised again here, after the bar is removed.
    """
    outcome: dict[str, object] = {}
    actor = access.current_actor()  # the helper thread acts for the page's signed-in person

    def target() -> None:
        try:
            with access.acting_as(actor):
                outcome["value"] = work()
        except BaseException as error:  # handed back to the page's thread below
            outcome["error"] = error

    expected = max(expected_seconds(task, megabytes), 0.5)
    helper = threading.Thread(target=target, name=f"trainyard-{task}", daemon=True)
    started = time.monotonic()
    helper.start()
    bar = st.progress(0.0, text=f"{label}…")
    while helper.is_alive():
        helper.join(0.25)
        elapsed = time.monotonic() - started
        if elapsed < expected:
            bar.progress(min(elapsed / expected, 0.97), text=f"{label} — about {duration(expected - elapsed)} left")
        else:
            bar.progress(0.97, text=f"{label} — taking longer than usual, {duration(elapsed)} so far")
    bar.empty()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    _learn(task, megabytes, time.monotonic() - started)
    return outcome["value"]  # type: ignore[return-value]
