"""New run: choose a data set, a model and its settings, then queue the run for a worker."""

import subprocess
import sys
import time

import streamlit as st

from db import repo
from dashboard.components import state
from dashboard.components.figures import learning_rate_figure
from dashboard.components.forms import settings_form
from dashboard.components.nav import go
from dashboard.components.signin import can, refusal
from dashboard.components.sweeps import start_auto
from dashboard.components.text import markdown_safe
from dashboard.components.trained import ROOT
from engine.calibrate import load_calibration
from engine.config import TRAINING_GROUPS, SplitConfig, TrainingConfig, validate_run_config
from engine.errors import UserError
from engine.jobs.launch import check_launch
from engine.estimates import estimate_run, human_range
from engine.models.estimate import human_bytes, training_steps
from engine.words import human_seconds
from engine.models.registry import MODELS, model_label, models_for_kind
from engine.presets import DEFAULT_PRESET, PRESET_HELP, PRESETS, preset_for, reasons, suggested_model
from engine.training.schedule import schedule_curve

AUTO = "Auto"


def forget_settings() -> None:
    """Drop the form's remembered values, so that a preset chosen again starts from its own settings."""
    for key in [k for k in st.session_state if str(k).startswith("preset-")]:
        del st.session_state[key]


def measure_this_computer(device: str) -> None:
    """Run `python -m engine calibrate` in a child process, with a progress bar and the time left."""
    bar = st.progress(0.0, text="Measuring this computer: starting…")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "engine", "calibrate", "--progress", "--device", device],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "progress":
            done, total = int(parts[1]), int(parts[2])
            left = (time.monotonic() - started) / done * (total - done)
            bar.progress(done / total, text=f"Measuring this computer: step {done} of {total}, "
                                            f"about {left:.0f} s left")
    problem = process.stderr.read()
    if process.wait() != 0:
        said = [line.removeprefix("Error: ") for line in problem.splitlines() if line.startswith("Error: ")]
        st.session_state["calibration_error"] = (said[-1] if said else
                                                 f"The measurement did not work on '{device}'. Choose another device "
                                                 "under 'Device, speed and repeatability', or try again.")
    bar.empty()


st.title("New run")

datasets = state.datasets()
if not datasets:
    st.info("First add a data set on the **Data sets** page; then come back here to train a model on it.")
    if st.button("Go to Data sets"):
        go("datasets")
    st.stop()

by_id = {d["id"]: d for d in datasets}
ids = list(by_id)
chosen = state.query_int("dataset")
dataset_id = st.selectbox(
    "Data set", ids, index=ids.index(chosen) if chosen in by_id else 0,
    format_func=lambda i: f"{by_id[i]['name']} — {by_id[i]['n_rows']:,} rows, predicts '{by_id[i]['target']}'",
)
st.query_params["dataset"] = str(dataset_id)
dataset = by_id[dataset_id]

entries = models_for_kind(dataset["kind"])
names = [entry.name for entry in entries]
suggested = suggested_model(dataset)
model_name = st.selectbox("Model", names, index=names.index(suggested), format_func=model_label)
st.caption(MODELS[model_name].description)
if not MODELS[model_name].available:
    st.warning(f"This model needs the package '{MODELS[model_name].package}', which is not installed on this "
               f"computer. Install it with `{MODELS[model_name].install_command}` and restart Trainyard.")

st.subheader("Training")
preset = st.segmented_control(
    "How long and how well", [*PRESETS, AUTO], default=DEFAULT_PRESET, key="preset", on_change=forget_settings,
    format_func=lambda choice: "Auto (within a time budget)" if choice == AUTO else choice,
    help="A preset fills in the settings below; you can still change any of them. Auto searches models and "
         "settings for you, as a sweep.",
)
if preset == AUTO:
    start_auto(dataset, key="train-auto")
    st.stop()
st.caption(PRESET_HELP[preset] if preset else f"No preset chosen: the {DEFAULT_PRESET} settings are the starting point.")
chosen = preset_for(dataset, model_name, preset)
preset_training, preset_model = chosen.training, chosen.model
# Each preset has its own widget keys: a widget's starting value only counts when the widget is new.
prefix = f"preset-{(preset or 'none').lower()}"
context = {"kind": dataset["kind"], "task": dataset["task"]}  # decides which settings apply
basics = settings_form(TrainingConfig, f"{prefix}.training", values=preset_training, group="basics", columns=4,
                       context=context)
with st.expander("Model settings"):
    model_settings = settings_form(MODELS[model_name].config, f"{prefix}.model.{model_name}", values=preset_model)
advanced: dict = {}
for group, title in TRAINING_GROUPS.items():
    with st.expander(title):
        advanced |= settings_form(TrainingConfig, f"{prefix}.training.{group}", values=preset_training, group=group,
                                  context={**context, **basics, **advanced})
with st.expander("Data split"):
    split = settings_form(SplitConfig, "split")
earlier_runs = state.finished_runs_of(model_name)
if earlier_runs:
    runs_by_id = {run["id"]: run for run in earlier_runs}
    start_from = st.selectbox(
        "Start from", [None, *runs_by_id], key=f"init-from-{model_name}",
        format_func=lambda i: "Fresh weights" if i is None else
        f"The trained weights of run {i}{' (' + runs_by_id[i]['name'] + ')' if runs_by_id[i]['name'] else ''}, "
        f"on '{runs_by_id[i]['dataset']}'",
        help=TrainingConfig.model_fields["init_from"].description)
    if start_from:
        advanced["init_from"] = start_from
run_name = st.text_input("Run name (optional)", max_chars=180, placeholder="for example: first try")

raw = {"model": {"name": model_name, **model_settings}, "training": {**basics, **advanced}, "split": split,
       "preset": chosen.name}
try:
    config = validate_run_config(raw)
    check_launch(config)
    estimate = estimate_run(config, dataset)
except UserError as error:
    config, problem = None, str(error)
else:
    problem, t, memory = None, config.training, estimate.memory
    n_train = estimate.n_train
    calibration = load_calibration(t.device)
    about = "" if estimate.exact else "about "
    st.subheader("Before you train")
    cells = st.columns(3)  # full width, so that values such as "about 12 minutes" fit
    cells[0].metric("Parameters", f"{about}{estimate.parameters:,}", help="Numbers the model learns.")
    cells[1].metric("Memory for training", f"about {human_bytes(memory.total)}",
                    help="A rough estimate of what training needs on its device (GPU or CPU).")
    device_words = "this computer's GPU" if estimate.device == "cuda" else "this computer's CPU"
    if estimate.seconds is not None:
        cells[2].metric("Training time", human_seconds(estimate.seconds), help=estimate.basis)
        st.caption(f"Training time: likely {human_range(estimate.low, estimate.high)}. {estimate.basis}")
    else:
        cells[2].metric("Training time", "not measured yet", help=estimate.basis)
    figures, chart = st.columns([3, 2])
    with figures:
        st.caption(f"Weights {human_bytes(memory.weights)}, gradients {human_bytes(memory.gradients)}, "
                   f"optimizer {human_bytes(memory.optimizer)}, one batch in flight {human_bytes(memory.activations)}, "
                   f"data set {human_bytes(memory.data)}."
                   + ("" if estimate.exact else " Exact figures appear once the data set has been prepared for training.")
                   + (f" Time on {device_words}, measured {calibration['measured_at'][:10]}."
                      if calibration and calibration.get("measured_at") else ""))
        if message := st.session_state.pop("calibration_error", None):
            st.error(markdown_safe(message))
        if st.button("Measure this computer" if not calibration else "Measure again",
                     key="calibrate", icon=":material/speed:",
                     help="Times a few training steps (about half a minute) so the page can estimate training time."):
            measure_this_computer(t.device)
            st.rerun()
    with chart:
        epochs, rates = schedule_curve(t.model_dump(), -(-n_train // t.batch_size))
        st.plotly_chart(learning_rate_figure(epochs, rates), theme=None, key="schedule-chart",
                        config={"displayModeBar": False})
    with st.container(border=True):
        st.markdown("**Why these settings**")
        for line in reasons(dataset["kind"], model_name, suggested, t.model_dump(), n_train):
            st.markdown(f"- {line}")
        for line in chosen.fitted:
            st.markdown(f"- {markdown_safe(line)}")
        processes = t.total_processes
        steps = training_steps(n_train, t.batch_size * processes, t.epochs)
        st.caption(f"{steps:,} training steps in all." + (f" {t.parallel_words()}" if processes > 1 else ""))

if not can("train"):
    st.caption(refusal("train"))
if st.button("Train", type="primary", icon=":material/rocket_launch:", key="train", disabled=not can("train")):
    if config is None:
        st.error(markdown_safe(problem))
        st.stop()
    run = repo.create_run(dataset_id, model_name, config.model_dump(), name=run_name.strip() or None)
    state.clear_caches()
    state.ensure_local_worker()
    go("run", run=run["id"])
elif problem:
    st.warning(markdown_safe(problem))
