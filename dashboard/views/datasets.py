"""Data sets: add one (upload or sample), read its quality report, fix its problems, compare versions."""

import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.components import state
from dashboard.components.dataset_report import fix_problems, quality_report
from dashboard.components.dataset_upload import add_a_data_set
from dashboard.components.datasets import KIND_WORDS, TASK_WORDS
from dashboard.components.nav import go
from dashboard.components.signin import can, refusal
from dashboard.components.text import markdown_safe as plain
from db import explorer
from engine.data.image_report import listed_count
from engine.data.images import open_image, to_pixels
from engine.data.ingest import (
    ARCHIVE_FILE,
    load_index,
    load_table,
)
from engine.data.profile import report_summary
from engine.errors import DataError

st.title("Data sets")

if can("upload"):
    add_a_data_set()
else:
    st.caption(refusal("upload"))

if message := st.session_state.pop("flash", None):
    st.success(plain(message))
if message := st.session_state.pop("flash_error", None):
    st.error(plain(message))

# ------------------------------------------------------------------ browse

datasets = state.datasets()
if not datasets:
    st.info("No data sets yet. Upload a file above, or add a sample to try Trainyard right away.")
    st.stop()

by_id = {d["id"]: d for d in datasets}
chosen = state.query_int("dataset")
ids = list(by_id)


def _describe(i: int) -> str:
    d = by_id[i]
    what = {"image": "images", "ratings": "ratings"}.get(d["kind"], "rows")
    return f"{d['name']} — {KIND_WORDS[d['kind']].lower()}, {d['n_rows']:,} {what}"


selected = st.selectbox("Data set", ids, index=ids.index(chosen) if chosen in by_id else 0, format_func=_describe)
st.query_params["dataset"] = str(selected)
dataset = by_id[selected]
report = dataset["quality_report"]
schema = dataset["schema"]
kind = dataset["kind"]
detected = report.get("detected", {})
problems = report.get("problems", [])

cols = st.columns(5)
cols[0].metric({"image": "Images", "ratings": "Ratings"}.get(kind, "Rows"), f"{dataset['n_rows']:,}")
if kind == "image":
    cols[1].metric("Image size", f"{schema['width']} × {schema['height']}")
    cols[2].metric("Classes", dataset["n_classes"])
elif kind == "ratings":
    cols[1].metric("Users", f"{report['users']:,}")
    cols[2].metric("Items", f"{report['items']:,}")
else:
    cols[1].metric("Columns", dataset["n_columns"])
    cols[2].metric("Predicts", dataset["target"])
cols[3].metric("Task", TASK_WORDS[dataset["task"]])
cols[4].metric("Problems found", sum(p["severity"] != "info" for p in problems),
               help="Serious problems and warnings; notes are counted apart.")
if dataset.get("created_by") and dataset["created_by"] != "local":
    st.caption(f"Added by {plain(dataset['created_by'])} on {str(dataset['created_at'])[:16]}.")

if dataset["parent_id"] and report.get("cleaning"):
    parent = by_id.get(dataset["parent_id"])
    source = f"'{plain(parent['name'])}'" if parent else "a data set that was since removed"
    st.info(f"A cleaned version of {source}: {plain(report['cleaning']['changed'])}.")

if st.button("Train a model on this data set", type="primary", icon=":material/play_arrow:"):
    go("new_run", dataset=selected)

quality_tab, fixes_tab, details_tab, preview_tab, versions_tab = st.tabs(
    ["Quality report", "Fix problems", "Details", "Preview", "Versions"])

with quality_tab:
    quality_report(dataset)
with fixes_tab:
    fix_problems(dataset)

# ------------------------------------------------------------------ details

with details_tab:
    counts = report.get("class_counts") or {}
    if kind == "image":
        st.write(f"{report['files']:,} image files; {report['images']:,} readable; "
                 f"{listed_count(report, 'skipped'):,} without a label; {listed_count(report, 'other_files'):,} other "
                 "files ignored. Smallest "
                 f"{report['smallest']['width']} × {report['smallest']['height']}, largest "
                 f"{report['largest']['width']} × {report['largest']['height']}.")
        st.dataframe(pd.DataFrame({"Class": list(counts), "Images": list(counts.values())}), hide_index=True)
    else:
        types = report.get("types", {})
        roles = {dataset["target"]: "to predict"}
        roles |= {schema.get("text_column"): "text"} if kind == "text" else {}
        roles |= {v: k for k, v in schema.get("roles", {}).items() if v} if kind == "ratings" else {}
        st.dataframe(pd.DataFrame({
            "Column": list(types), "Type": list(types.values()),
            "Missing cells": [report.get("missing", {}).get(c, 0) for c in types],
            "Role": [roles.get(c, "input" if kind == "tabular" else "not used") for c in types],
        }), hide_index=True)
    st.caption(f"Source file: {plain(dataset['source_name'])}. Fingerprint (SHA-256): {dataset['sha256'][:16]}…")

# ------------------------------------------------------------------ preview


@st.cache_data(show_spinner=False, max_entries=8)
def thumbnails(files_path: str, files: tuple[str, ...], channels: int) -> list:
    pictures = []
    with zipfile.ZipFile(Path(files_path) / ARCHIVE_FILE) as archive:
        for name in files:
            with open_image(archive.read(name)) as image:
                pixels = to_pixels(image, 64, 64, channels)
            pictures.append(pixels[..., 0] if channels == 1 else pixels)
    return pictures


with preview_tab:
    try:
        if kind == "image":
            index = load_index(dataset)
            shown = index[index["readable"]].groupby("label").head(3).head(30)
            pictures = thumbnails(dataset["files_path"], tuple(shown["file"]), schema["channels"])
            st.image(pictures, caption=[str(label) for label in shown["label"]], width=64)
            st.caption("Up to three images per class, as the model sees them after resizing.")
        else:
            st.dataframe(load_table(dataset).head(100), hide_index=True)
    except (DataError, OSError, KeyError) as error:
        st.error(f"The preview could not be shown: {plain(error)}")

# ------------------------------------------------------------------ versions

with versions_tab:
    root = dataset
    while root["parent_id"] and root["parent_id"] in by_id:
        root = by_id[root["parent_id"]]
    family, frontier = [root], [root["id"]]
    while frontier:
        children = [d for d in datasets if d["parent_id"] in frontier]
        family += sorted(children, key=lambda d: d["id"])
        frontier = [d["id"] for d in children]
    rows = []
    for member in family:
        summary = report_summary(member["quality_report"])
        rows.append({"Version": member["name"] + ("  ← this one" if member["id"] == selected else ""),
                     "Made by": (member["quality_report"].get("cleaning") or {}).get("changed", "the original upload"),
                     "Rows": summary["rows"], "Problems": summary["problems"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if report.get("before"):
        before, after = report["before"], report_summary(report)
        figures = [("Rows", "rows"), ("Missing cells", "missing_cells"), ("Duplicates", "duplicates"),
                   ("Classes", "classes"), ("Unreadable images", "unreadable_images"), ("Problems", "problems")]
        st.markdown("**Before and after this version's fix**")
        st.dataframe(pd.DataFrame([{"": label, "Before": before.get(key), "After": after.get(key)}
                                   for label, key in figures if before.get(key) is not None]), hide_index=True)
        gone = [t for t in before["problem_titles"] if t not in after["problem_titles"]]
        if gone:
            st.markdown("Solved: " + "; ".join(plain(t) for t in gone) + ".")

with st.expander("Delete this data set", icon=":material/delete:"):
    dependents = explorer.dataset_dependents(selected)
    if dependents.active:
        st.warning(f"Runs {', '.join(map(str, dependents.active))} are waiting or training on this data set. Cancel "
                   "them on the **Queue** page, or let them finish, before deleting it.")
    else:
        st.markdown(f"Deleting '{plain(dataset['name'])}' removes it and its files for good. "
                    f"{plain(dependents.sentence())}")
        sure = st.checkbox("I understand that this cannot be undone", key=f"delete-sure-{selected}")
        if st.button("Delete the data set", disabled=not sure, icon=":material/delete:", key=f"delete-{selected}"):
            try:
                explorer.delete_dataset(selected)
            except ValueError as error:
                st.error(plain(str(error)))
            else:
                state.clear_caches()
                st.query_params.pop("dataset", None)
                st.session_state["flash"] = f"Deleted the data set '{dataset['name']}'. {dependents.sentence(done=True)}"
                st.rerun()
