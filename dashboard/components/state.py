"""The dashboard's link to the database: a cached engine, short cached queries, and the local worker."""

from __future__ import annotations

import os

import streamlit as st

from dashboard.components.text import markdown_safe
from db import repo
from db.models import RunStatus
from db.session import database_url, get_engine
from engine.words import clock_duration

STATUS_COLORS = {RunStatus.QUEUED: "gray", RunStatus.RUNNING: "blue", RunStatus.COMPLETED: "green",
                 RunStatus.FAILED: "red", RunStatus.CANCELLED: "orange", RunStatus.INTERRUPTED: "violet",
                 RunStatus.PRUNED: "gray"}
STATUS_WORDS = {RunStatus.QUEUED: "Waiting", RunStatus.RUNNING: "Training", RunStatus.COMPLETED: "Finished",
                RunStatus.FAILED: "Failed", RunStatus.CANCELLED: "Cancelled", RunStatus.INTERRUPTED: "Interrupted",
                RunStatus.PRUNED: "Stopped early by the sweep"}


@st.cache_resource
def engine():
    return get_engine()


# The database URL is part of each cache key, so two databases never share cached answers.
@st.cache_data(ttl=2, show_spinner=False)
def _datasets(url: str) -> list[dict]:
    return repo.list_datasets()


@st.cache_data(ttl=1, show_spinner=False)
def _runs(url: str, limit: int) -> list[dict]:
    return repo.list_runs(limit=limit)


def datasets() -> list[dict]:
    return _datasets(database_url())


def runs(limit: int = 500) -> list[dict]:
    return _runs(database_url(), limit)


def finished_runs_of(model_name: str, limit: int = 50) -> list[dict]:
    """Give back the newest completed runs of a model: the runs a new run of it can start from."""
    return [run for run in runs() if run["status"] == RunStatus.COMPLETED and run["model"] == model_name][:limit]


def clear_caches() -> None:
    _datasets.clear()
    _runs.clear()


def status_badge(status: str) -> None:
    st.badge(STATUS_WORDS.get(status, status), color=STATUS_COLORS.get(status, "gray"))


def starts_workers() -> bool:
    """Whether this dashboard starts a worker on its own machine when none is alive: not on a machine that only
    serves the dashboard (TRAINYARD_AUTO_WORKER=0), whose runs wait for the workers of other machines."""
    return os.environ.get("TRAINYARD_AUTO_WORKER", "1") != "0"


def ensure_local_worker() -> None:
    """Start a background worker on this machine unless one is alive or this dashboard starts none; training never
    runs in the page."""
    from engine.jobs.worker import ensure_worker

    if not starts_workers():
        return
    try:
        if ensure_worker():
            st.toast("Started a background worker to train your runs.")
    except OSError as error:
        st.warning(f"Could not start a background worker ({markdown_safe(error)}). Start one with "
                   "`python -m engine worker`.")


def query_int(name: str) -> int | None:
    value = st.query_params.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def short_time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


duration = clock_duration  # the pages' name for it
