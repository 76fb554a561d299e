"""Sweeps: search settings over many runs. Start one (or Auto), follow it live, train with what it found."""

import pandas as pd
import streamlit as st

from dashboard.components import state
from dashboard.components import sweeps as ui
from dashboard.components.forms import search_start, search_widget, searchable
from dashboard.components.nav import go
from dashboard.components.sweep_figures import (best_so_far_figure, choice_text, format_figure, importance_figure,
                                                metric_words, parallel_figure)
from dashboard.components.text import markdown_safe
from db import repo
from db.models import RunStatus, SweepStatus
from engine.config import TrainingConfig
from engine.errors import UserError
from engine.models.registry import MODELS, model_label, models_for_kind
from engine.presets import PRESET_HELP, PRESETS, suggested_model
from engine.search import sweeps
from engine.search.running import cancel_sweep
from engine.search.space import FIXED, METRIC_WORDS, METRICS, default_direction, setting_title

# Where the search of these settings starts; any other setting starts from its default and bounds.
STARTS = {"training.learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
          "training.weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
          "model.dropout": {"low": 0.0, "high": 0.5, "log": False}}
DEFAULT_SEARCH = ("training.learning_rate", "model.dropout", "training.weight_decay")
DIRECTION_WORDS = {"maximize": "Higher is better", "minimize": "Lower is better"}
SWEEP_COLORS = {SweepStatus.RUNNING: "blue", SweepStatus.COMPLETED: "green", SweepStatus.CANCELLED: "orange"}


def setting_specs(models: list[str], context: dict[str, str]) -> dict[str, dict]:
    """Give back {dotted key: schema property} of the settings a sweep over models can vary, training's first:
    those that apply to this kind of data and task, and that decide how well a run learns rather than where."""
    sections = [("training", TrainingConfig)] + [("model", MODELS[name].config) for name in models]
    specs: dict[str, dict] = {}
    for section, config_class in sections:
        for name, spec in config_class.model_json_schema()["properties"].items():
            needs = {k: v for k, v in spec.get("shown_when", {}).items() if k in context}
            key = f"{section}.{name}"
            if key not in FIXED and searchable(spec) and all(context[k] in v for k, v in needs.items()):
                specs.setdefault(key, spec)
    return specs


def plain_error(message: str, titles: dict[str, str]) -> str:
    """The engine names settings by their dotted keys, as the command line does; the page says their titles."""
    for key, title in titles.items():
        message = message.replace(f"'{key}'", f"'{title}'")
    return message


def start_form(dataset: dict) -> None:
    """Draw the form that starts a sweep of the user's own; a start opens the new sweep's page."""
    names = [entry.name for entry in models_for_kind(dataset["kind"])]
    models = st.multiselect("Models to try", names, default=[suggested_model(dataset)], format_func=model_label,
                            key=f"sweep-models-{dataset['kind']}", placeholder="Choose one model or more",
                            help="With several models, each trial picks one of them as well as its settings.")
    if not models:
        st.info("Choose at least one model to try.")
        return
    specs = setting_specs(models, {"kind": dataset["kind"], "task": dataset["task"]})
    titles = {key: setting_title(key, models) for key in specs}
    chosen = st.multiselect(
        "Settings to search", list(specs), default=[key for key in DEFAULT_SEARCH if key in specs],
        format_func=titles.get, key=f"sweep-settings-{dataset['kind']}", placeholder="Choose the settings to vary",
        help="Every other setting keeps the value of the preset chosen below.")
    space = {}
    for key in chosen:
        with st.container(border=True):
            space[key] = search_widget(specs[key], STARTS.get(key) or search_start(specs[key]), f"sweep-space.{key}")

    st.markdown("**How to search**")
    cells = st.columns(2)
    metric = cells[0].selectbox("Aim for the best", METRICS[dataset["task"]], key=f"sweep-metric-{dataset['task']}",
                                format_func=metric_words,
                                help="Trials are judged on the validation rows, so the test rows stay unseen "
                                     "until the end.")
    directions = list(DIRECTION_WORDS)
    direction = cells[1].selectbox("Which is better", directions, key=f"sweep-direction-{metric}",
                                   index=directions.index(default_direction(metric)), format_func=DIRECTION_WORDS.get)
    cells = st.columns(4)
    trials = cells[0].number_input("Trials", min_value=1, max_value=sweeps.MAX_TRIALS, value=20, step=1,
                                   key="sweep-trials", help="How many runs the sweep trains in all.")
    parallel = cells[1].number_input("At once", min_value=1, max_value=64, value=1, step=1, key="sweep-parallel",
                                     help="How many trials train at the same time; each takes a worker's place.")
    method = cells[2].selectbox("Method", list(sweeps.METHODS), format_func=sweeps.METHODS.get, key="sweep-method",
                                help="TPE looks at the trials so far to choose promising settings; Random draws "
                                     "them by chance; Grid tries every combination, each range at a few evenly "
                                     "spread points.")
    preset = cells[3].selectbox("Each trial starts from", PRESETS, index=PRESETS.index("Balanced"),
                                key="sweep-preset", format_func=lambda p: f"the {p} preset",
                                help=" ".join(f"{p}: {text}" for p, text in PRESET_HELP.items()))
    pruner = st.selectbox("Stop poor trials early", list(sweeps.PRUNERS), format_func=sweeps.PRUNERS.get,
                          key="sweep-pruner", help="A trial stopped early frees its place for the next one.")
    name = st.text_input("Sweep name (optional)", max_chars=180, key="sweep-name",
                         placeholder="for example: learning rate search")
    if st.button("Start sweep", type="primary", icon=":material/rocket_launch:", key="start-sweep"):
        if None in space.values():
            st.error("A setting above cannot be read yet: fix it, then start the sweep.")
            return
        try:
            sweep = sweeps.create_sweep(dataset, models, space, method=method, metric=metric, direction=direction,
                                        trials=int(trials), parallel=int(parallel), preset=preset, name=name,
                                        pruner=pruner)
        except UserError as error:
            st.error(plain_error(str(error), titles))
            return
        ui.clear_caches()
        state.ensure_local_worker()
        go("sweeps", sweep=sweep["id"])


def sweep_list() -> None:
    """Draw every sweep, newest first; a row clicked opens its sweep."""
    rows = []
    for sweep in repo.list_sweeps():
        best = ui.best_value(sweep)
        rows.append({"Sweep": sweep["id"], "Name": sweep["name"] or "", "Data set": sweep["dataset"],
                     "Status": ui.SWEEP_WORDS.get(sweep["status"], sweep["status"]),
                     "Trials": f"{ui.ended(sweep['counts'])} " + (
                         f"(Auto, {sweep['budget_seconds'] / 60:g} min)" if sweep["auto"] else f"of {sweep['trials']}"),
                     "Best result": "" if best is None else f"{metric_words(sweep['metric'])} "
                                                           f"{format_figure(sweep['metric'], best)}"})
    if not rows:
        st.info("No sweeps yet. Start one below: Auto needs only a time budget.")
        return
    st.caption("Click a row to open its sweep.")
    table = pd.DataFrame(rows)
    # A new table on each visit, so that the row clicked last time does not open its sweep again on coming back.
    visit = st.session_state.get("sweeps-visit", 0)
    picked = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row",
                          key=f"sweeps-table-{visit}",
                          column_config={"Sweep": st.column_config.NumberColumn(format="%d")})
    if picked and picked.selection.rows:
        st.session_state["sweeps-visit"] = visit + 1
        go("sweeps", sweep=int(table.iloc[picked.selection.rows[0]]["Sweep"]))


def table_value(value):
    """Numbers stay numbers, so that their column sorts as numbers; lists and switches become words."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    return choice_text(value)


def trials_table(document: dict) -> pd.DataFrame:
    """One row per trial, the best first: its run, status, model, figure and the value of each searched setting."""
    sign = -1 if document["direction"] == "maximize" else 1
    ranked = sorted(document["trials"], key=lambda t: (t["value"] is None, sign * (t["value"] or 0), t["number"]))
    rows = []
    for trial in ranked:
        row = {"Trial": trial["number"] + 1, "Run": f"run?run={trial['run_id']}",
               "Status": state.STATUS_WORDS.get(trial["status"], trial["status"]),
               "Model": MODELS[trial["model"]].title, metric_words(document["metric"]): trial["value"],
               "Epochs": trial["epochs"], "Training time": state.duration(trial["seconds"])}
        for key in document["space"]:
            row[setting_title(key, document["models"])] = table_value(trial["params"].get(key))
        rows.append(row)
    return pd.DataFrame(rows)


def progress(document: dict) -> None:
    """Draw where the sweep stands: its status, trials by status, the best so far and the time left."""
    status, counts = document["status"], document["counts"]
    st.badge(ui.SWEEP_WORDS.get(status, status), color=SWEEP_COLORS.get(status, "gray"))
    done = ui.ended(counts)
    if document["auto"] and document["budget_seconds"]:
        share = document["elapsed_seconds"] / document["budget_seconds"]
        text = f"{done} trial(s) ended in {state.duration(document['elapsed_seconds'])} of a " \
               f"{state.duration(document['budget_seconds'])} budget"
    else:
        share = done / document["trials_planned"]
        text = f"{done} of {document['trials_planned']} trials ended"
    st.progress(min(1.0, share) if status == SweepStatus.RUNNING else 1.0, text=text)
    figures = [("Finished", counts[RunStatus.COMPLETED]), ("Training", counts[RunStatus.RUNNING]),
               ("Waiting", counts[RunStatus.QUEUED] + counts[RunStatus.INTERRUPTED]),
               ("Stopped early", counts[RunStatus.PRUNED]), ("Failed", counts[RunStatus.FAILED])]
    if counts[RunStatus.CANCELLED]:
        figures.append(("Cancelled", counts[RunStatus.CANCELLED]))
    for cell, (label, count) in zip(st.columns(len(figures)), figures):
        cell.metric(label, count)
    best = document["best"]
    cells = st.columns(2)
    cells[0].metric(f"Best so far: {METRIC_WORDS.get(document['metric'], document['metric'])}",
                    format_figure(document["metric"], best["value"]) if best else "none yet",
                    help=None if best is None else f"Trial {best['number'] + 1}, run {best['run_id']}.")
    if status == SweepStatus.RUNNING:
        left = document["seconds_left"]
        cells[1].metric("Time left", "unknown until a trial ends" if left is None else f"about {state.duration(left)}")
    else:
        cells[1].metric("Took", state.duration(document["elapsed_seconds"]))


def results(document: dict) -> None:
    """Draw the sweep's figures, its trials and, once it has ended, its closing sentence."""
    if document["outcome"]:
        st.success(document["outcome"])
    if not document["trials"]:
        st.caption("The first trials are being queued." if document["status"] == SweepStatus.RUNNING
                   else "No trial ran.")
        return
    if document["best"] is not None:
        titles = {name: MODELS[name].title for name in document["models"]}
        left, right = st.columns(2)
        left.plotly_chart(best_so_far_figure(document), theme=None, key="best-so-far")
        if document["importance"]:
            right.plotly_chart(importance_figure(document["importance"], document["models"]), theme=None,
                               key="importance")
        elif document["counts"][RunStatus.COMPLETED] >= 3:
            right.caption("What mattered most: the finished trials scored so alike that no setting stands out.")
        else:
            right.caption("What mattered most shows once three trials have finished.")
        st.plotly_chart(parallel_figure(document, titles), theme=None, key="parallel")
    else:
        st.caption("The charts appear once a trial has finished.")
    figure = metric_words(document["metric"])
    st.dataframe(trials_table(document), hide_index=True, column_config={
        "Run": st.column_config.LinkColumn("Run", display_text=r"run=(\d+)", help="Open the trial's run."),
        figure: st.column_config.NumberColumn(format="percent" if document["metric"].endswith("accuracy")
                                              else "%.4g"),
    })


def sweep_view(document: dict) -> None:
    sweep_id = document["id"]
    st.title(f"Sweep {sweep_id}" + (f" — {markdown_safe(document['name'])}" if document["name"] else ""))
    models = ", ".join(MODELS[name].title for name in document["models"])
    aim = "highest" if document["direction"] == "maximize" else "lowest"
    st.caption(f"{markdown_safe(models)} on '{markdown_safe(document['dataset'])}' · "
               f"{sweeps.METHODS[document['method']]} · aims for the {aim} "
               f"{METRIC_WORDS.get(document['metric'], document['metric'])} · each trial starts from the "
               f"{document['preset']} preset · started {state.short_time(document['created_at'])}")
    with st.expander("What it searches, and how to share it"):
        for line in document["space_words"]:
            st.markdown(f"- {markdown_safe(line)}")
        budget = document["budget_seconds"]
        st.caption(f"{document['parallel']} trial(s) at once. {sweeps.PRUNERS[document['pruner']]}."
                   + (f" Time budget: {state.duration(budget)}." if budget else ""))
        base = (st.context.url or "").split("?")[0]
        st.markdown("A colleague opens this sweep with this link:")
        st.code(f"{base or 'sweeps'}?sweep={sweep_id}", language=None)
    if flash := st.session_state.pop("sweep-flash", None):
        st.success(flash)
    running = document["status"] == SweepStatus.RUNNING
    live = st.toggle("Live updates", value=True, key="sweep-live", disabled=not running,
                     help="Refresh every few seconds while the sweep runs. Turn off to zoom into the charts.")

    @st.fragment(run_every="5s" if live and running else None)
    def live_view() -> None:
        current = ui.document(sweep_id) or document
        if running and current["status"] != RunStatus.RUNNING:
            st.rerun(scope="app")  # the sweep ended: redraw the whole page once, without the timer
        progress(current)
        results(current)

    live_view()

    buttons = st.columns(3)
    best = document["recommended"]  # Auto keeps its Balanced trial unless the best one is clearly ahead
    if buttons[0].button("Train with the best settings", icon=":material/model_training:", key="train-best",
                         disabled=best is None, help="Queue a normal run with the model and settings of the best "
                                                     "trial so far, for example to keep it as your model."):
        best_run = repo.get_run(best["run_id"])
        if best_run is None:
            st.error(f"Run {best['run_id']}, the best trial, has been deleted, so its settings are gone.")
        else:
            label = document["name"] or f"sweep {sweep_id}"
            run = repo.create_run(document["dataset_id"], best_run["model"], best_run["config"],
                                  name=f"Best settings of {label}")
            ui.clear_caches()
            state.ensure_local_worker()
            go("run", run=run["id"])
    if buttons[2].button("All sweeps", icon=":material/list:", key="all-sweeps"):
        go("sweeps")
    if running:
        with buttons[1].popover("Cancel sweep", icon=":material/stop_circle:"):
            how = st.radio("The trials training now", ["finish", "stop"], key="cancel-how",
                           format_func={"finish": "Let the running trials finish", "stop": "Stop them now"}.get)
            st.caption("No new trial starts, and the waiting ones are cancelled.")
            if st.button("Cancel the sweep", type="primary", key="cancel-sweep"):
                st.session_state["sweep-flash"] = cancel_sweep(sweep_id, stop_running=how == "stop")
                ui.clear_caches()
                st.rerun()


sweep_id = state.query_int("sweep")
document = ui.document(sweep_id) if sweep_id is not None else None
if document is not None:
    sweep_view(document)
    st.stop()

st.title("Sweeps")
st.caption("A sweep trains many runs, its trials, over a range of settings and finds the settings that work best. "
           "Its trials train in the background like any other run.")
if sweep_id is not None:
    st.warning(f"There is no sweep {sweep_id}: it may have been deleted. Choose another one below.")
sweep_list()

st.subheader("Start a sweep")
datasets = state.datasets()
if not datasets:
    st.info("First add a data set on the **Data sets** page; then come back here to search its best settings.")
    st.stop()
by_id = {d["id"]: d for d in datasets}
ids = list(by_id)
chosen = state.query_int("dataset")
dataset = by_id[st.selectbox("Data set", ids, index=ids.index(chosen) if chosen in by_id else 0, key="sweep-dataset",
                             format_func=lambda i: f"{by_id[i]['name']} — {by_id[i]['n_rows']:,} rows, "
                                                   f"predicts '{by_id[i]['target']}'")]
auto_tab, own_tab = st.tabs(["Auto (within a time budget)", "Choose the settings to search"])
with auto_tab:
    ui.start_auto(dataset, key="start-auto")
with own_tab:
    start_form(dataset)
