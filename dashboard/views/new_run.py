"""New run: choose a data set, a model and its settings, then queue the run for a worker."""

import streamlit as st

from db import repo
from dashboard.components import state
from dashboard.components.forms import settings_form
from dashboard.components.nav import go
from engine.config import TRAINING_GROUPS, SplitConfig, TrainingConfig, validate_run_config
from engine.errors import UserError
from engine.models.estimate import dataset_spec, human_bytes, memory_estimate
from engine.models.registry import MODELS, default_model, model_size, models_for_kind

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
model_name = st.selectbox("Model", names, index=names.index(default_model(dataset["kind"])),
                          format_func=lambda n: MODELS[n].title)
st.caption(MODELS[model_name].description)

st.subheader("Training")
context = {"kind": dataset["kind"], "task": dataset["task"]}  # decides which settings apply
basics = settings_form(TrainingConfig, "training", group="basics", columns=4, context=context)
with st.expander("Model settings"):
    model_settings = settings_form(MODELS[model_name].config, f"model.{model_name}")
advanced: dict = {}
for group, title in TRAINING_GROUPS.items():
    with st.expander(title):
        advanced |= settings_form(TrainingConfig, f"training.{group}", group=group,
                                  context={**context, **basics, **advanced})
with st.expander("Data split"):
    split = settings_form(SplitConfig, "split")
run_name = st.text_input("Run name (optional)", max_chars=180, placeholder="for example: first try")

raw = {"model": {"name": model_name, **model_settings}, "training": {**basics, **advanced}, "split": split}
try:
    config = validate_run_config(raw)
    spec, exact = dataset_spec(dataset)
    size = model_size(config.model, spec)
except UserError as error:
    config, problem = None, str(error)
else:
    problem, t = None, config.training
    memory = memory_estimate(size, spec, t.batch_size, t.optimizer, dataset["n_rows"], t.momentum)
    about = "" if exact else "about "
    left, right = st.columns(2)
    left.metric("Parameters", f"{about}{size.parameters:,}", help="Numbers the model learns.")
    right.metric("Memory for training", f"about {human_bytes(memory.total)}",
                 help="A rough estimate of what training needs on its device (GPU or CPU).")
    st.caption(f"Weights {human_bytes(memory.weights)}, gradients {human_bytes(memory.gradients)}, "
               f"optimizer {human_bytes(memory.optimizer)}, one batch in flight {human_bytes(memory.activations)}, "
               f"data set {human_bytes(memory.data)}."
               + ("" if exact else " Exact figures appear once the data set has been prepared for training."))

if st.button("Train", type="primary", icon=":material/rocket_launch:", key="train"):
    if config is None:
        st.error(problem)
        st.stop()
    run = repo.create_run(dataset_id, model_name, config.model_dump(), name=run_name.strip() or None)
    state.clear_caches()
    state.ensure_local_worker()
    go("run", run=run["id"])
elif problem:
    st.warning(problem)
