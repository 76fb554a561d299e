"""Run details: live curves of every metric, results, settings, history, notes and tags, files and export.

The sections under the charts are tabs listed in SECTIONS; a new section is one function and one entry.
"""

import functools
import json

import pandas as pd
import streamlit as st

from dashboard.components import explorer as ex
from dashboard.components import state
from dashboard.components.figures import metric_label
from dashboard.components.glossary import explain
from dashboard.components.layout import pairs
from dashboard.components.nav import go, page
from dashboard.components.text import markdown_safe
from db import explorer, repo
from db.models import ACTIVE, RunStatus
from db.session import run_folder
from engine.estimates import queue_waits
from engine.jobs.launch import torchrun_command
from engine.jobs.worker import STALE_SECONDS
from engine.models.registry import MODELS
from engine.words import plain_number

FINAL = [("test_accuracy", "Test accuracy", "{:.1%}".format), ("test_f1_macro", "Test F1 (macro)", "{:.3f}".format),
         ("test_rmse", "Test error (RMSE)", functools.partial(plain_number, digits=4)),
         ("test_mae", "Test error (MAE)", functools.partial(plain_number, digits=4)),
         ("epochs_completed", "Epochs", "{:.0f}".format), ("kept_epoch", "Weights from epoch", "{:.0f}".format),
         ("samples_per_second", "Examples per second", "{:,.0f}".format)]

run_id = state.query_int("run")
run = explorer.get_run(run_id) if run_id is not None else None
if run is None:
    st.title("Run details")
    recent = ex.recent_runs()
    if not recent:
        st.info("No runs yet. Go to **New run**, pick a data set and press **Train**.")
        st.stop()
    if run_id is not None:
        st.warning(f"There is no run {run_id}: it may have been deleted. Choose another run.")
    labels = {r["id"]: f"{ex.run_label(r)} ({r['model']} on {r['dataset']})" for r in recent}
    run_id = st.selectbox("Choose a run", list(labels), format_func=labels.get)
    run = explorer.get_run(run_id)
st.query_params["run"] = str(run_id)

st.title(f"Run {run_id}" + (f" — {markdown_safe(run['name'])}" if run["name"] else ""))
st.caption(f"{run['model']} on '{markdown_safe(run['dataset'])}' · queued {state.short_time(run['created_at'])}"
           + (" · archived" if run["archived_at"] else ""))
if sweep_name := repo.sweep_names([run["sweep_id"]]).get(run["sweep_id"]):
    st.page_link(page("sweeps"), label=f"Trial {run['trial_number'] + 1} of sweep '{markdown_safe(sweep_name)}'",
                 query_params={"sweep": run["sweep_id"]}, icon=":material/tune:")


def _smoothing(text):
    try:
        return min(max(float(text), 0.0), 0.99) if text else None
    except ValueError:
        return None


ex.start_from_url("run-x", "x", lambda v: v if v in ex.X_AXES else None, "step")
ex.start_from_url("run-smooth", "smooth", _smoothing, 0.0)
controls = st.container(horizontal=True, vertical_alignment="center")
# Only a run that trains has curves that move; a finished one's charts are still.
live = run["status"] in ACTIVE and controls.toggle(
    "Live updates", value=True, key="live", help="Turn off to zoom into the charts without them redrawing.")
with controls.popover("Chart options", icon=":material/tune:"):
    x_axis = st.segmented_control("Along", list(ex.X_AXES), key="run-x", format_func=ex.X_AXES.get, required=True,
                                  help="Draw the curves along training steps, epochs, or minutes since the run "
                                  "started.")
    smoothing = st.slider("Smoothing", 0.0, 0.99, step=0.01, key="run-smooth",
                          help="Average out the noise. The raw curve stays, faint, behind the smooth one.")
if run["status"] in ACTIVE:
    if controls.button("Cancel run", icon=":material/stop_circle:", key="cancel"):
        outcome = repo.request_cancel(run_id)
        state.clear_caches()
        ex.clear_caches()
        st.toast("Run cancelled." if outcome == RunStatus.CANCELLED else "Stopping the run…")
ex.keep_in_url({"x": "" if x_axis == "step" else x_axis, "smooth": smoothing or ""})


def waiting_words(run_id: int) -> str:
    """Say how many runs are ahead of a waiting run and when it should start."""
    positions = repo.queue_positions()
    ahead = positions.get(run_id, 1) - 1
    workers = repo.alive_workers(STALE_SECONDS)
    if not workers:
        started = "The dashboard starts one when it opens; " if state.starts_workers() else ""
        return f"Waiting: no worker is running, so it waits. {started}`python -m engine worker` starts one by hand."
    active = repo.list_runs(statuses=list(ACTIVE), with_metrics=False)
    wait = queue_waits(active, positions, sum(worker["slots"] for worker in workers)).get(run_id)
    when = ("It should start in about " + state.duration(wait) + "." if wait is not None and wait >= 5 else
            "It should start within seconds." if wait is not None else "It starts when a worker is free for it.")
    if not ahead:
        return f"Next in line. {when}"
    return f"Waiting: {ahead} run{'s are' if ahead > 1 else ' is'} ahead of this one. {when}"


pretrained = run["model"] in MODELS and MODELS[run["model"]].pretrained


def has_learning_points() -> bool:
    return bool(ex.metric_groups({k: s for k, s in explorer.metric_summaries(run_id).items() if not ex.is_system(k)}))


# Until the first loss is there the page looks every half second, so it shows as soon as it is written; then
# every two seconds.
FIRST_POINT_WAIT = live and run["status"] in ACTIVE and not has_learning_points()


def draw_charts(summaries: dict, curves: dict, key: str) -> None:
    columns = st.columns(2)
    for i, (_, figure) in enumerate(ex.run_charts(summaries, curves, x_axis, smoothing)):
        columns[i % 2].plotly_chart(figure, theme=None, key=f"{key}-{i}")


@st.fragment(run_every=("0.5s" if FIRST_POINT_WAIT else "2s") if live and run["status"] in ACTIVE else None)
def live_view() -> None:
    current = explorer.get_run(run_id)
    if current is None:
        st.warning("This run has been deleted.")
        return
    status = current["status"]
    if status not in ACTIVE and run["status"] in ACTIVE:
        st.rerun(scope="app")  # the run ended: redraw the whole page once, without the timer
    state.status_badge(status)
    if status == RunStatus.QUEUED and current["config"].get("training", {}).get("launcher") == "torchrun":
        machines = current["config"]["training"].get("machines", 1)
        st.info("Waiting for your cluster's scheduler: Trainyard's workers leave this run alone. Start it with this "
                "command, in Trainyard's folder with the same database settings"
                + (f", on each of its {machines} machines (`MASTER_ADDR` is the first one's address)" if machines > 1
                   else "") + ":")
        st.code(torchrun_command(current), language="bash")
    elif status == RunStatus.QUEUED:
        st.info(waiting_words(run_id))
    elif status == RunStatus.RUNNING:
        eta = current["eta_seconds"]
        st.progress(current["progress"],
                    text=f"{current['progress']:.0%} done · about {state.duration(eta)} left · on {current['device'] or '…'}")
    elif status == RunStatus.FAILED:
        st.error(current["error"] or "The run failed.")
    elif status == RunStatus.INTERRUPTED:
        st.warning(current["error"] or "The run was interrupted; it resumes when a worker picks it up.")
    elif status == RunStatus.CANCELLED:
        st.warning("This run was cancelled.")

    summary = explorer.metric_summaries(run_id)
    finals = [(label, fmt(summary[key]["last"])) for key, label, fmt in FINAL if key in summary]
    if finals:
        for column, (label, value) in zip(pairs("results").columns(len(finals)), finals):
            column.metric(label, value, help=explain(label))
    # The learning curves first; the computer's figures (processor, memory), which come sooner, folded below them.
    learning = {k: s for k, s in summary.items() if not ex.is_system(k)}
    computer = {k: s for k, s in summary.items() if ex.is_system(k)}
    if not ex.metric_groups(learning):
        if status in ACTIVE and pretrained:
            st.caption("A pretrained network first reads every example once (later runs on this data set reuse "
                       "what it read; one that tunes on pairs draws that tuning here), so the loss of its training "
                       "appears after that.")
        elif status in ACTIVE:
            st.caption("The loss appears here after the first training step.")
    else:
        curves = ex.history(run_id, learning, [k for k, s in learning.items() if s["count"] > 1 or
                                               k.startswith("train_")])
        # How well the model does (losses, scores) in view; how training went (learning rate, speed, memory)
        # folded below, so that a phone shows the curves that matter without scrolling past six charts.
        results = {k: s for k, s in learning.items() if explorer.is_result(k)}
        pace = {k: s for k, s in learning.items() if k not in results}
        draw_charts(results, curves, "chart")
        if ex.metric_groups(pace):
            with st.expander("How training went: learning rate, speed and memory", icon=":material/speed:"):
                draw_charts(pace, curves, "pace-chart")
    if ex.metric_groups(computer):
        with st.expander("The computer while training (processor, memory)", icon=":material/memory:"):
            curves = ex.history(run_id, computer, [k for k, s in computer.items() if s["count"] > 1])
            draw_charts(computer, curves, "system-chart")
    if FIRST_POINT_WAIT and ex.metric_groups(learning):
        st.rerun(scope="app")  # the first loss is drawn: redraw the page once, on the slower timer


live_view()
ex.show_overfitting(run, key="run-keep-best")


# ---------------------------------------------------------------- sections


@st.fragment(run_every="2s" if live and run["status"] in ACTIVE else None)
def overview() -> None:
    current = explorer.get_run(run_id) or run  # read again while the run trains: its device, tries and times
    seconds = explorer.run_seconds(current)
    config = current["config"]
    started_from = f"the {config['preset']} preset" if config.get("preset") else "own settings"
    if earlier := (config.get("training") or {}).get("init_from"):
        started_from += f", the weights of run {earlier}"
    facts = [("Data set", f"{current['dataset']} ({current['dataset_kind']}, {current['dataset_rows']:,} rows)"),
             ("Model", current["model"]), ("Device", current["device"] or "—"), ("Started from", started_from),
             ("Training time", state.duration(seconds)), ("Queued", state.short_time(current["created_at"])),
             ("Started", state.short_time(current["started_at"]) or "—"),
             ("Ended", state.short_time(current["finished_at"]) or "—"), ("Tries", str(current["attempts"]))]
    if current.get("created_by") and current["created_by"] != "local":
        facts.append(("Started by", current["created_by"]))
    columns = pairs("facts").columns(4)
    for i, (label, value) in enumerate(facts):
        columns[i % 4].markdown(f"**{label}**")
        columns[i % 4].text(value)
    if current["parent_run_id"]:
        if st.button(f"Open run {current['parent_run_id']}, which this run continues", key="open-parent"):
            go("run", run=current["parent_run_id"])
    if earlier:
        if st.button(f"Open run {earlier}, whose trained weights this run started from", key="open-init-from"):
            go("run", run=earlier)
    summary = explorer.metric_summaries(run_id)
    if summary:
        st.markdown("**Results**")
        st.dataframe(pd.DataFrame([{
            "Metric": metric_label(key), "Last": ex.format_value(key, s["last"]),
            "Best": ex.format_value(key, s["best"]), "Best at step": s["best_step"], "Points": s["count"],
        } for key, s in ((k, summary[k]) for k in explorer.metric_order(summary))]), hide_index=True)


def settings() -> None:
    flat = explorer.flatten(run["config"])
    st.dataframe(pd.DataFrame([{"Setting": ex.setting_label(k), "Value": str(v)} for k, v in flat.items()]),
                 hide_index=True)
    with st.expander("As JSON"):
        st.json(run["config"], expanded=True)
    if run["environment"]:
        st.caption("Recorded for repeatability: " + json.dumps(run["environment"]))


def history() -> None:
    changes = explorer.status_history(run_id)
    if changes:
        st.markdown("**Status history**")
        rows, previous = [], None
        for change in changes:
            after = state.duration((change["time"] - previous).total_seconds()) if previous else ""
            rows.append({"Time": state.short_time(change["time"]), "Change": change["message"], "After": after})
            previous = change["time"]
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    others = [e for e in repo.list_events(run_id) if e["kind"] != "status"]
    if others:
        st.markdown("**Messages**")
        for event in others:
            st.text(f"{state.short_time(event['time'])}  {event['message']}")


def log() -> None:
    log_path = run_folder(run_id) / "output.log"
    if log_path.exists():
        st.code(log_path.read_text(errors="replace")[-5000:] or "(empty)", language=None)
    else:
        st.caption("No output yet.")


def notes_and_tags() -> None:
    known = ex.filter_choices()["tags"]
    with st.form("details"):
        name = st.text_input("Name", value=run["name"] or "", max_chars=200)
        tags = st.multiselect("Tags", sorted(set(known) | set(run["tags"] or [])), default=run["tags"] or [],
                              accept_new_options=True, placeholder="Choose or type a tag, then press Enter",
                              help="Tags let you filter the runs list, for example 'baseline' or 'for the demo'.")
        notes = st.text_area("Notes", value=run["notes"] or "", height=140,
                             placeholder="What did you try, and what did you learn?")
        if st.form_submit_button("Save", key="save-details"):
            explorer.update_run_details(run_id, name, notes, tags)
            ex.clear_caches()
            state.clear_caches()
            st.toast("Saved.")
            st.rerun()


def files_and_export() -> None:
    st.markdown("**Export**")
    buttons = st.container(horizontal=True)
    buttons.download_button("Metrics (CSV)", data=lambda: explorer.metrics_csv(run_id).encode(),
                            file_name=f"run-{run_id}-metrics.csv", mime="text/csv", on_click="ignore",
                            icon=":material/download:", key="export-csv",
                            help="Every logged point: metric, step, epoch, value and time.")
    buttons.download_button("Summary (JSON)",
                            data=lambda: json.dumps(explorer.run_document(run_id), indent=2, default=str).encode(),
                            file_name=f"run-{run_id}-summary.json", mime="application/json", on_click="ignore",
                            icon=":material/download:", key="export-json",
                            help="Settings, times, and the final and best value of every metric.")
    st.caption(f"From the command line: `python -m engine runs metrics {run_id} --json` and "
               f"`python -m engine runs show {run_id} --json`. The address in your browser opens this same view: "
               "copy it to share.")
    files = explorer.run_files(run_id)
    st.markdown("**Files**")
    if not files:
        st.caption("No files yet. The trained model appears here when the run finishes.")
    for i, item in enumerate(files):
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.text(f"{item['kind']}: {item['name']} ({item['bytes'] / 1e6:,.1f} MB)")
        right.download_button("Download", data=item["path"].read_bytes, file_name=item["name"],
                              on_click="ignore", icon=":material/download:", key=f"file-{i}")


SECTIONS = {"Overview": overview, "Settings": settings, "History": history, "Log": log,
            "Notes and tags": notes_and_tags, "Files and export": files_and_export}
for tab, draw in zip(st.tabs(list(SECTIONS)), SECTIONS.values()):
    with tab:
        draw()

left, right = st.columns([1, 3])
if left.button("Train again with other settings", key="again"):
    go("new_run", dataset=run["dataset_id"])
if right.button("Compare with other runs", key="compare-this"):
    go("compare", runs=str(run_id))
