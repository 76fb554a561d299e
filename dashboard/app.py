"""Trainyard's dashboard: `streamlit run dashboard/app.py` (or `make run`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from db.session import DatabaseNotReady, ensure_ready  # noqa: E402
from dashboard.components.errors import guarded  # noqa: E402
from dashboard.components.layout import phone_style  # noqa: E402
from dashboard.components.signin import sign_in_page, who_is_here  # noqa: E402
from dashboard.components.state import ensure_local_worker  # noqa: E402

# Not "pages/": a folder of that name beside app.py switches Streamlit to its old multipage layout.
VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Trainyard", page_icon="🚂", layout="wide")
phone_style()

try:
    ensure_ready()
except DatabaseNotReady as error:
    st.error(str(error))
    st.stop()


@st.cache_resource(show_spinner=False)
def _removed_leftovers(home: str) -> int:
    """Remove what killed imports and abandoned uploads left behind, once per dashboard process and home."""
    from engine.data.ingest import remove_leftovers

    return len(remove_leftovers())


_removed_leftovers(os.environ.get("TRAINYARD_HOME", ""))
actor = who_is_here()  # None while sign-in is on and nobody is signed in

if not st.session_state.get("worker_checked"):
    ensure_local_worker()
    st.session_state["worker_checked"] = True

home = st.Page(VIEWS / "home.py", title="Start here", icon=":material/home:", default=True, url_path="home")
datasets = st.Page(VIEWS / "datasets.py", title="Data sets", icon=":material/table_chart:", url_path="datasets")
new_run = st.Page(VIEWS / "new_run.py", title="New run", icon=":material/play_circle:", url_path="new-run")
runs = st.Page(VIEWS / "runs.py", title="Runs", icon=":material/list:", url_path="runs")
queue = st.Page(VIEWS / "queue.py", title="Queue", icon=":material/queue:", url_path="queue")
sweeps = st.Page(VIEWS / "sweeps.py", title="Sweeps", icon=":material/tune:", url_path="sweeps")
run = st.Page(VIEWS / "run.py", title="Run details", icon=":material/monitoring:", url_path="run")
compare = st.Page(VIEWS / "compare.py", title="Compare runs", icon=":material/compare_arrows:", url_path="compare")
evaluate = st.Page(VIEWS / "evaluate.py", title="Evaluate", icon=":material/fact_check:", url_path="evaluate")
playground = st.Page(VIEWS / "playground.py", title="Playground", icon=":material/science:", url_path="playground")
serving = st.Page(VIEWS / "serving.py", title="Serving", icon=":material/cloud_upload:", url_path="serving")
team = st.Page(VIEWS / "team.py", title="Team", icon=":material/group:", url_path="team")

st.session_state["pages"] = {"home": home, "datasets": datasets, "new_run": new_run, "runs": runs, "run": run,
                             "queue": queue, "sweeps": sweeps, "compare": compare, "evaluate": evaluate,
                             "playground": playground, "serving": serving, "team": team}
sections = {"Trainyard": [home], "Data": [datasets], "Training": [new_run, queue, runs, run, sweeps, compare],
            "Results": [evaluate, playground, serving]}
if actor is None:  # every page is known (so the address asked for opens after signing in), none is shown
    st.navigation([page for pages in sections.values() for page in pages] + [team], position="hidden")
    sign_in_page()
    st.stop()
if actor.role == "admin":  # people, roles and the audit trail
    sections["Trainyard"].append(team)
page = st.navigation(sections)
with guarded():
    page.run()
