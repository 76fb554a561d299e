"""The Data sets page's upload form and samples: a file is checked, its kind, columns and task suggested and
explained, and stored once the person confirms."""

import shutil
import tempfile
from pathlib import Path

import streamlit as st

from dashboard.components.datasets import KIND_WORDS, select
from dashboard.components.progress import run_with_progress
from dashboard.components.text import markdown_safe as plain
from engine.data.images import MAX_SIDE, MIN_SIDE
from engine.data.ingest import (
    READING_NOTES,
    add_dataset,
    check_file_size,
    inspect_table,
    inspect_zip,
    uploads_dir,
)
from engine.data.packed import PACKED_SUFFIXES, packed_title, unpack_table
from engine.data.samples import SAMPLES, add_sample
from engine.data.tables import TABLE_FILES, TABLE_SUFFIXES, read_table, without_row_numbers
from engine.errors import DataError

UPLOAD_TYPES = sorted(suffix.lstrip(".") for suffix in TABLE_SUFFIXES | PACKED_SUFFIXES)
def limit_mb() -> int:
    """The largest upload the dashboard takes, in MB (Streamlit's server.maxUploadSize, read when it is used)."""
    return st.get_option("server.maxUploadSize")


KIND_CHOICES = {"tabular": "A table: predict one column from the others",
                "text": "Texts to sort into classes",
                "ratings": "Ratings of items by users, for recommendations"}


def _store_upload(uploaded) -> tuple[Path, str]:
    """Copy the upload to disk once per file, a packed table unpacked, so the page reads it from there; give back
    the copy and the name of what it holds. A replaced one's copy goes. Raises DataError for a packed file that
    holds no table to read."""
    cached = st.session_state.get("upload_copy")
    if cached and cached[0] == uploaded.file_id and Path(cached[1]).exists():
        return Path(cached[1]), cached[2]
    if cached:
        Path(cached[1]).unlink(missing_ok=True)
    handle = tempfile.NamedTemporaryFile(delete=False, dir=uploads_dir(), suffix=Path(uploaded.name).suffix)
    with handle:
        shutil.copyfileobj(uploaded, handle)
    path, name = Path(handle.name), uploaded.name
    try:
        unpacked = unpack_table(path, name, uploads_dir(), limit_mb() << 20)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if unpacked:
        path.unlink(missing_ok=True)
        path, name = unpacked
    st.session_state["upload_copy"] = (uploaded.file_id, str(path), name)
    return path, name


def _forget_upload() -> None:
    cached = st.session_state.pop("upload_copy", None)
    if cached:
        Path(cached[1]).unlink(missing_ok=True)
    st.session_state["uploader_key"] = st.session_state.get("uploader_key", 0) + 1


def _refused(path: Path, error: DataError) -> None:
    """Say why the file was refused and remove its copy (the next change on the page copies it again)."""
    path.unlink(missing_ok=True)
    st.error(plain(error))


def _add(path: Path, original_name: str, **options) -> None:
    try:
        dataset = run_with_progress(
            "import", "Checking and storing the data set",
            lambda: add_dataset(path, original_name=original_name, max_bytes=limit_mb() << 20, **options),
            path.stat().st_size / 2**20)
    except DataError as error:
        _refused(path, error)
    else:
        _forget_upload()
        select(dataset, f"Added '{dataset['name']}'.")


def _choose(container, label: str, options: list, default, help_text: str, key: str, **kwargs):
    index = options.index(default) if default in options else 0
    return container.selectbox(label, options, index=index, help=help_text, key=key, **kwargs)


def _table_form(path: Path, name: str, suggested_name: str) -> None:
    try:
        frame = without_row_numbers(read_table(path, name))
        detected = inspect_table(frame)
    except DataError as error:
        _refused(path, error)
        return
    st.write(f"**{plain(name)}**: {len(frame):,} rows, {frame.shape[1]} columns. First rows:")
    st.dataframe(frame.head(20), hide_index=True)
    for title, key in READING_NOTES:
        if detected.get(key):
            st.caption(f"{title}: {plain(detected[key])}.")
    kinds = list(KIND_CHOICES)
    suggested_kind = detected["kind"]
    kind = st.radio("What is in this table?", kinds, index=kinds.index(detected["kind"]),
                    format_func=KIND_CHOICES.get, key="upload-kind")
    st.caption(f"Suggested because {plain(detected['kind_reason'])}.")
    if kind != detected["kind"]:
        try:
            detected = inspect_table(frame, kind=kind)
        except DataError as error:
            st.error(plain(error))
            return
    columns = list(frame.columns)
    # Only what differs from the suggestion is passed on, so the report keeps the reason of what was accepted.
    options: dict = {} if kind == suggested_kind else {"kind": kind}
    left, right = st.columns(2)
    if kind == "ratings":
        roles = detected["roles"]
        chosen = {}
        for role, column, words in (("user", left, "Who rated (user)"), ("item", right, "What was rated (item)"),
                                    ("rating", left, "The rating (a number)")):
            chosen[role] = _choose(column, words, columns, roles.get(role), "Each row is one rating of an item by a user.",
                                   f"upload-{role}")
        stamps = ["(none)"] + columns
        stamp = _choose(right, "When (optional)", stamps, roles.get("timestamp") or "(none)",
                        "A date or time of each rating; used to keep the latest when a pair is rated twice.",
                        "upload-timestamp")
        chosen["timestamp"] = None if stamp == "(none)" else stamp
        changed = {role: column for role, column in chosen.items() if column != roles.get(role)}
        if changed:
            options["roles"] = changed
        if "rating" in changed:
            options["target"] = changed["rating"]
        st.caption(f"Suggested because {plain(detected['kind_reason'])}.")
    elif kind == "text":
        text_column = _choose(left, "Column with the texts", columns, detected["text_column"],
                              "The words the model reads.", "upload-text")
        left.caption(f"Suggested because {plain(detected['text_reason'])}.")
        guess = inspect_table(frame, kind="text", text_column=text_column)
        target = _choose(right, "Column with the labels", [c for c in columns if c != text_column], guess["target"],
                         "The class the model learns to give each text.", f"upload-label-{text_column}")
        right.caption(f"Suggested because {plain(guess['target_reason'])}.")
        options.update({key: value for key, value, suggested in (
            ("text_column", text_column, detected["text_column"]), ("target", target, guess["target"]))
            if value != suggested})
    else:
        target = _choose(left, "Column to predict", columns, detected["target"],
                         "The answer the model learns to give from the other columns.", "upload-target")
        left.caption(f"Suggested because {plain(detected['target_reason'])}.")
        guess = inspect_table(frame, target, kind="tabular")
        tasks = ["classification", "regression"]
        task = right.radio(
            "What to predict", tasks, index=tasks.index(guess["task"]), horizontal=True,
            format_func={"classification": "A category (classification)", "regression": "A number (regression)"}.get,
            help="A category is one of a few labels; a number is a measured quantity.", key=f"upload-task-{target}",
        )
        right.caption(f"Suggested because {plain(guess['task_reason'])}.")
        options.update({key: value for key, value, suggested in (
            ("target", target, detected["target"]), ("task", task, guess["task"])) if value != suggested})
    title = st.text_input("Name", value=suggested_name, max_chars=180, key="upload-name")
    if st.button("Add data set", type="primary", key="add-dataset"):
        _add(path, name, name=title, **options)


def _zip_form(path: Path, name: str) -> None:
    try:
        found = inspect_zip(path, name)
    except DataError as error:
        _refused(path, error)
        return
    st.write(f"**{plain(name)}**: {found['images']:,} images in {found['classes']} classes — "
             f"{plain(found['label_reason'])}.")
    if found["skipped"]:
        st.caption(f"{found['skipped']:,} images have no label and will be left out.")
    st.caption(f"Each image is resized to one size: {plain(found['size_reason'])}. Smaller trains faster; "
               "larger keeps more detail.")
    left, right = st.columns(2)
    width = left.number_input("Width (pixels)", MIN_SIDE, MAX_SIDE, int(found["width"]), key="upload-width")
    height = right.number_input("Height (pixels)", MIN_SIDE, MAX_SIDE, int(found["height"]), key="upload-height")
    title = st.text_input("Name", value=Path(name).stem, max_chars=180, key="upload-name")
    if st.button("Add data set", type="primary", key="add-dataset"):
        # Only a changed size is passed on, so the report keeps the reason of the suggestion accepted.
        size = (int(height), int(width))
        _add(path, name, name=title, **({} if size == (found["height"], found["width"]) else {"image_size": size}))


def add_a_data_set() -> None:
    """The upload form and the samples (editors and admins), always in view at the top of the page.

    Not in an expander: in Chromium, its height animation sometimes left the form of a file just uploaded folded
    out of sight under an expander that looked open, so the person saw nothing happen."""
    with st.container(border=True):
        st.markdown("**Add a data set**")
        upload_tab, sample_tab = st.tabs(["Upload a file", "Try a sample"])
        with upload_tab:
            uploaded = st.file_uploader(
                f"A table ({TABLE_FILES}; zipped or gzipped too), or a ZIP of images with one folder per class "
                f"— up to {limit_mb()} MB",
                type=UPLOAD_TYPES, key=f"uploader-{st.session_state.get('uploader_key', 0)}",
                help="For texts, use a table with a text column and a label column; for recommendations, a table "
                     "with user, item and rating columns. Larger files: python -m engine datasets add PATH.",
            )
            if uploaded is not None:
                try:
                    check_file_size(uploaded.size, uploaded.name, limit_mb() << 20)
                    stored, name = _store_upload(uploaded)
                except DataError as error:
                    st.error(plain(error))
                else:
                    if name.lower().endswith(".zip"):
                        _zip_form(stored, name)
                    else:
                        _table_form(stored, name, packed_title(uploaded.name, name))
        with sample_tab:
            keys = list(SAMPLES)
            sample = st.selectbox("Sample", keys, key="sample",
                                  format_func=lambda k: f"{KIND_WORDS[SAMPLES[k].kind]}: {SAMPLES[k].title}")
            st.caption(SAMPLES[sample].description)
            if st.button("Add this sample", key="add-sample"):
                with st.spinner("Making the sample…"):
                    dataset = add_sample(sample)
                select(dataset, f"Added the sample '{dataset['name']}'.")
