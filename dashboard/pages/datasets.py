"""Data sets: add a table or a sample, preview it, and read its quality report."""

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from db.session import trainyard_home
from dashboard.components import state
from dashboard.components.figures import bar_figure
from dashboard.components.nav import go
from engine.data.ingest import add_dataset, inspect_table, load_table
from engine.data.samples import SAMPLES, add_sample
from engine.data.tables import read_table
from engine.errors import DataError

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "parquet"]
LIMIT_MB = st.get_option("server.maxUploadSize")

st.title("Data sets")

# ------------------------------------------------------------------ add


def _store_upload(uploaded) -> Path:
    """Copy the upload to disk once per file, so the page reads it from there."""
    folder = trainyard_home() / "uploads"
    folder.mkdir(exist_ok=True)
    cached = st.session_state.get("upload_copy")
    if cached and cached[0] == uploaded.file_id and Path(cached[1]).exists():
        return Path(cached[1])
    handle = tempfile.NamedTemporaryFile(delete=False, dir=folder, suffix=Path(uploaded.name).suffix)
    with handle:
        shutil.copyfileobj(uploaded, handle)
    st.session_state["upload_copy"] = (uploaded.file_id, handle.name)
    return Path(handle.name)


def _forget_upload() -> None:
    cached = st.session_state.pop("upload_copy", None)
    if cached:
        Path(cached[1]).unlink(missing_ok=True)
    st.session_state["uploader_key"] = st.session_state.get("uploader_key", 0) + 1


with st.expander("Add a data set", expanded=not state.datasets()):
    upload_tab, sample_tab = st.tabs(["Upload a file", "Try a sample"])
    with upload_tab:
        uploaded = st.file_uploader(
            f"A table with a header row: CSV, TSV, Excel or Parquet (up to {LIMIT_MB} MB)",
            type=UPLOAD_TYPES, key=f"uploader-{st.session_state.get('uploader_key', 0)}",
        )
        if uploaded is not None:
            path = _store_upload(uploaded)
            try:
                frame = read_table(path, uploaded.name)
                detected = inspect_table(frame)
            except DataError as error:
                st.error(str(error))
                frame = None
            if frame is not None:
                st.write(f"**{uploaded.name}**: {len(frame):,} rows, {frame.shape[1]} columns. First rows:")
                st.dataframe(frame.head(20), hide_index=True)
                columns = list(frame.columns)
                left, right = st.columns(2)
                target = left.selectbox(
                    "Column to predict", columns, index=columns.index(detected["target"]),
                    help="The answer the model learns to give from the other columns.",
                )
                left.caption(f"Suggested because {detected['target_reason']}.")
                guess = inspect_table(frame, target)
                tasks = ["classification", "regression"]
                task = right.radio(
                    "What to predict", tasks, index=tasks.index(guess["task"]), horizontal=True,
                    format_func={"classification": "A category (classification)",
                                 "regression": "A number (regression)"}.get,
                    help="A category is one of a few labels; a number is a measured quantity.",
                )
                right.caption(f"Suggested because {guess['task_reason']}.")
                name = st.text_input("Name", value=Path(uploaded.name).stem, max_chars=180)
                if st.button("Add data set", type="primary", key="add-dataset"):
                    try:
                        with st.spinner("Checking and storing the data set…"):
                            dataset = add_dataset(path, name=name, target=target, task=task,
                                                  original_name=uploaded.name)
                    except DataError as error:
                        st.error(str(error))
                    else:
                        _forget_upload()
                        state.clear_caches()
                        st.query_params["dataset"] = str(dataset["id"])
                        st.session_state["flash"] = f"Added '{dataset['name']}'."
                        st.rerun()
    with sample_tab:
        sample = st.selectbox("Sample", list(SAMPLES), format_func=lambda key: SAMPLES[key][0])
        st.caption(SAMPLES[sample][1])
        if st.button("Add this sample", key="add-sample"):
            dataset = add_sample(sample)
            state.clear_caches()
            st.query_params["dataset"] = str(dataset["id"])
            st.session_state["flash"] = f"Added the sample '{dataset['name']}'."
            st.rerun()

if message := st.session_state.pop("flash", None):
    st.success(message)

# ------------------------------------------------------------------ browse

datasets = state.datasets()
if not datasets:
    st.info("No data sets yet. Upload a table above, or add a sample to try Trainyard right away.")
    st.stop()

by_id = {d["id"]: d for d in datasets}
chosen = state.query_int("dataset")
ids = list(by_id)
selected = st.selectbox(
    "Data set", ids, index=ids.index(chosen) if chosen in by_id else 0,
    format_func=lambda i: f"{by_id[i]['name']} — {by_id[i]['n_rows']:,} rows, predicts '{by_id[i]['target']}'",
)
st.query_params["dataset"] = str(selected)
dataset = by_id[selected]
report = dataset["quality_report"]

cols = st.columns(5)
cols[0].metric("Rows", f"{dataset['n_rows']:,}")
cols[1].metric("Columns", dataset["n_columns"])
cols[2].metric("Predicts", dataset["target"])
cols[3].metric("Task", "Category" if dataset["task"] == "classification" else "Number")
cols[4].metric("Problems found", len(report.get("problems", [])))

if st.button("Train a model on this data set", type="primary", icon=":material/play_arrow:"):
    go("new_run", dataset=selected)

overview, quality, preview = st.tabs(["Columns", "Quality report", "Preview"])
with overview:
    missing = report.get("missing", {})
    types = report.get("types", {})
    st.dataframe(pd.DataFrame({
        "Column": list(types), "Type": list(types.values()),
        "Missing cells": [missing.get(c, 0) for c in types],
        "Role": ["to predict" if c == dataset["target"] else "input" for c in types],
    }), hide_index=True)
with quality:
    problems = report.get("problems", [])
    if not problems:
        st.success("No problems found: no missing cells, duplicates or unbalanced classes.")
    for problem in problems:
        show = {"serious": st.error, "warning": st.warning}.get(problem["severity"], st.info)
        show(f"**{problem['title']}.** {problem['effect']} *Fix:* {problem['fix']}")
    if report.get("class_counts"):
        st.plotly_chart(bar_figure(report["class_counts"], "Examples per class", "Class"), theme=None)
    elif report.get("target_stats"):
        stats = report["target_stats"]
        st.write(f"'{dataset['target']}' ranges from {stats['min']:.4g} to {stats['max']:.4g} "
                 f"(mean {stats['mean']:.4g}).")
with preview:
    st.dataframe(load_table(dataset).head(100), hide_index=True)
