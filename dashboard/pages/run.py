"""Run details: live curves, progress and result of one run, its settings, and a cancel button."""

import json

import streamlit as st

from db import repo
from dashboard.components import state
from dashboard.components.figures import curves_figure
from dashboard.components.nav import go
from db.session import trainyard_home

LOSS_KEYS = ["train_loss", "val_loss"]
SCORE_KEYS = {"classification": ["train_accuracy", "val_accuracy"], "regression": ["val_rmse", "val_mae"]}
FINAL = [("test_accuracy", "Test accuracy", "{:.1%}"), ("test_f1_macro", "Test F1 (macro)", "{:.3f}"),
         ("test_rmse", "Test error (RMSE)", "{:.4g}"), ("test_mae", "Test error (MAE)", "{:.4g}"),
         ("epochs_completed", "Epochs", "{:.0f}"), ("samples_per_second", "Examples per second", "{:,.0f}")]

runs = state.runs()
if not runs:
    st.title("Run details")
    st.info("No runs yet. Go to **New run**, pick a data set and press **Train**.")
    st.stop()

run_id = state.query_int("run")
if run_id is None or repo.get_run(run_id) is None:
    st.title("Run details")
    labels = {r["id"]: f"Run {r['id']} ({r['model']} on {r['dataset']})" for r in runs}
    run_id = st.selectbox("Choose a run", list(labels), format_func=labels.get)
st.query_params["run"] = str(run_id)

run = repo.get_run(run_id)
dataset = repo.get_dataset(run["dataset_id"])
task = dataset["task"] if dataset else "classification"
title = f"Run {run_id}" + (f" — {run['name']}" if run["name"] else "")
st.title(title)
st.caption(f"{run['model']} on '{run['dataset']}' · queued {state.short_time(run['created_at'])}")

controls = st.columns([1.4, 1.4, 4], vertical_alignment="center")
live = controls[0].toggle("Live updates", value=True, key="live",
                          help="Turn off to zoom into the charts without them redrawing.")
if run["status"] in ("queued", "running"):
    if controls[1].button("Cancel run", icon=":material/stop_circle:", key="cancel"):
        outcome = repo.request_cancel(run_id)
        state.clear_caches()
        st.toast("Run cancelled." if outcome == "cancelled" else "Stopping the run…")


@st.fragment(run_every="2s" if live and run["status"] in ("queued", "running") else None)
def live_view() -> None:
    current = repo.get_run(run_id)
    status = current["status"]
    if status in ("completed", "failed", "cancelled", "interrupted") and run["status"] in ("queued", "running"):
        st.rerun(scope="app")  # the run ended: redraw the whole page once, without the timer
    state.status_badge(status)
    if status == "queued":
        ahead = sum(1 for r in repo.list_runs(statuses=["queued"]) if r["id"] < run_id)
        st.info(f"Waiting for a worker{f' ({ahead} run(s) ahead)' if ahead else ''}. "
                "Training starts in the background within seconds.")
    elif status == "running":
        eta = current["eta_seconds"]
        st.progress(current["progress"],
                    text=f"{current['progress']:.0%} done · about {state.duration(eta)} left · on {current['device'] or '…'}")
    elif status == "failed":
        st.error(current["error"] or "The run failed.")
    elif status == "interrupted":
        st.warning(current["error"] or "The run was interrupted; it resumes when a worker picks it up.")
    elif status == "cancelled":
        st.warning("This run was cancelled.")

    summary = repo.metric_summaries(run_id)
    finals = [(label, fmt.format(summary[key]["last"])) for key, label, fmt in FINAL if key in summary]
    if finals:
        for column, (label, value) in zip(st.columns(len(finals)), finals):
            column.metric(label, value)
    history = repo.metric_history(run_id)
    if not history:
        if status in ("queued", "running"):
            st.caption("The first points appear after the first few training steps.")
        return
    by_key: dict[str, list] = {}
    for point in history:
        by_key.setdefault(point["key"], []).append(point)
    left, right = st.columns(2)
    left.plotly_chart(curves_figure({k: by_key.get(k, []) for k in LOSS_KEYS}, "Loss (lower is better)"),
                      theme=None, key="loss-chart")
    score_keys = SCORE_KEYS.get(task, [])
    if any(k in by_key for k in score_keys):
        right.plotly_chart(curves_figure({k: by_key.get(k, []) for k in score_keys},
                                         "Accuracy (higher is better)" if task == "classification"
                                         else "Error (lower is better)",
                                         percent=task == "classification"),
                           theme=None, key="score-chart")


live_view()

settings, events, log = st.tabs(["Settings", "History", "Log"])
with settings:
    st.json(run["config"], expanded=False)
    if run["environment"]:
        st.caption("Recorded for repeatability: " + json.dumps(run["environment"]))
with events:
    for event in repo.list_events(run_id):
        st.text(f"{state.short_time(event['time'])}  {event['message']}")
with log:
    log_path = trainyard_home() / "runs" / str(run_id) / "output.log"
    if log_path.exists():
        st.code(log_path.read_text(errors="replace")[-5000:] or "(empty)", language=None)
    else:
        st.caption("No output yet.")

if st.button("Train again with other settings", key="again"):
    go("new_run", dataset=run["dataset_id"])
