"""New run: choose a data set, a model and its settings, then queue the run for a worker."""

import streamlit as st

from db import repo
from dashboard.components import state
from dashboard.components.forms import settings_form
from dashboard.components.nav import go
from engine.config import SplitConfig, TrainingConfig, validate_run_config
from engine.errors import UserError
from engine.models.registry import MODELS, default_model, models_for_kind

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
basics = settings_form(TrainingConfig, "training", only=["epochs", "batch_size", "learning_rate", "optimizer"],
                       columns=4)
with st.expander("Model settings"):
    model_settings = settings_form(MODELS[model_name].config, f"model.{model_name}")
with st.expander("Advanced training settings"):
    advanced = settings_form(TrainingConfig, "training.advanced",
                             only=["momentum", "weight_decay", "grad_clip", "seed", "device", "log_every"])
    split = settings_form(SplitConfig, "split")
run_name = st.text_input("Run name (optional)", max_chars=180, placeholder="for example: first try")

if st.button("Train", type="primary", icon=":material/rocket_launch:", key="train"):
    raw = {"model": {"name": model_name, **model_settings}, "training": {**basics, **advanced}, "split": split}
    try:
        config = validate_run_config(raw)
    except UserError as error:
        st.error(str(error))
        st.stop()
    run = repo.create_run(dataset_id, model_name, config.model_dump(), name=run_name.strip() or None)
    state.clear_caches()
    state.ensure_local_worker()
    go("run", run=run["id"])
