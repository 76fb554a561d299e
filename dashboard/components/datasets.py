"""What the parts of the Data sets page share: opening a data set, the names of kinds and tasks, a chart of
categories, and applying a fix."""

from pathlib import Path

import streamlit as st

from dashboard.components import state
from dashboard.components.figures import bar_figure
from dashboard.components.progress import run_with_progress
from engine.data.cleaning import clean_dataset
from engine.errors import DataError

KIND_WORDS = {"tabular": "Table", "image": "Images", "text": "Text", "ratings": "Ratings"}
TASK_WORDS = {"classification": "Category", "regression": "Number", "rating": "Rating"}
SEVERITY = {"serious": st.error, "warning": st.warning}


def select(dataset: dict, message: str) -> None:
    state.clear_caches()
    st.query_params["dataset"] = str(dataset["id"])
    st.session_state["flash"] = message
    st.rerun()


def categories_figure(counts: dict, title: str, x_title: str, y_title: str):
    """Give back a bar chart whose labels stay labels, even when they look like numbers ('0' to '9')."""
    figure = bar_figure(counts, title, x_title, y_title)
    figure.update_xaxes(type="category")
    return figure


def dataset_megabytes(dataset: dict) -> float:
    """Give back the size of a data set's stored files in megabytes."""
    folder = Path(dataset["files_path"])
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20 if folder.exists() else 0.0


def fix(dataset: dict, step: dict) -> None:
    """Apply one cleaning step and open the new version, or say why it cannot be done."""
    try:
        size = dataset_megabytes(dataset)
        cleaned = run_with_progress("clean", "Making a cleaned version", lambda: clean_dataset(dataset, step), size)
    except DataError as error:
        st.session_state["flash_error"] = str(error)
        st.rerun()
    else:
        select(cleaned, f"Made '{cleaned['name']}': {cleaned['quality_report']['cleaning']['changed']}. "
                        f"The source, '{dataset['name']}', is kept.")
