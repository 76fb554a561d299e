"""Data sets: add one (upload or sample), read its quality report, fix its problems, compare versions."""

import shutil
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.components import state
from dashboard.components.figures import bar_figure
from dashboard.components.nav import go
from dashboard.components.progress import run_with_progress
from dashboard.components.signin import can, refusal
from dashboard.components.text import label_safe, markdown_safe as plain
from db import explorer
from engine.data.cleaning import FILL_METHODS, available_steps, clean_dataset, merge_mapping
from engine.data.images import MAX_SIDE, MIN_SIDE, listed_count, open_image, to_pixels
from engine.data.ingest import (
    ARCHIVE_FILE,
    add_dataset,
    check_file_size,
    inspect_table,
    inspect_zip,
    load_index,
    load_table,
    uploads_dir,
)
from engine.data.profile import MIN_CLASS_EXAMPLES, report_summary
from engine.data.ratings import MIN_USER_RATINGS
from engine.data.samples import SAMPLES, add_sample
from engine.data.tables import read_table
from engine.errors import DataError

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "parquet", "zip"]
LIMIT_MB = st.get_option("server.maxUploadSize")
KIND_WORDS = {"tabular": "Table", "image": "Images", "text": "Text", "ratings": "Ratings"}
KIND_CHOICES = {"tabular": "A table: predict one column from the others",
                "text": "Texts to sort into classes",
                "ratings": "Ratings of items by users, for recommendations"}
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


st.title("Data sets")

# ------------------------------------------------------------------ add


def _store_upload(uploaded) -> Path:
    """Copy the upload to disk once per file, so the page reads it from there; a replaced one's copy goes."""
    cached = st.session_state.get("upload_copy")
    if cached and cached[0] == uploaded.file_id and Path(cached[1]).exists():
        return Path(cached[1])
    if cached:
        Path(cached[1]).unlink(missing_ok=True)
    handle = tempfile.NamedTemporaryFile(delete=False, dir=uploads_dir(), suffix=Path(uploaded.name).suffix)
    with handle:
        shutil.copyfileobj(uploaded, handle)
    st.session_state["upload_copy"] = (uploaded.file_id, handle.name)
    return Path(handle.name)


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
            lambda: add_dataset(path, original_name=original_name, max_bytes=LIMIT_MB << 20, **options),
            path.stat().st_size / 2**20)
    except DataError as error:
        _refused(path, error)
    else:
        _forget_upload()
        select(dataset, f"Added '{dataset['name']}'.")


def _choose(container, label: str, options: list, default, help_text: str, key: str, **kwargs):
    index = options.index(default) if default in options else 0
    return container.selectbox(label, options, index=index, help=help_text, key=key, **kwargs)


def _table_form(path: Path, name: str) -> None:
    try:
        frame = read_table(path, name)
        detected = inspect_table(frame)
    except DataError as error:
        _refused(path, error)
        return
    st.write(f"**{plain(name)}**: {len(frame):,} rows, {frame.shape[1]} columns. First rows:")
    st.dataframe(frame.head(20), hide_index=True)
    if detected.get("header_reason"):
        st.caption(f"No header row: {plain(detected['header_reason'])}.")
    if detected.get("encoding_reason"):
        st.caption(f"Text encoding: {plain(detected['encoding_reason'])}.")
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
        options.update(roles=chosen, target=chosen["rating"])
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
    title = st.text_input("Name", value=Path(name).stem, max_chars=180, key="upload-name")
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
        _add(path, name, name=title, image_size=(int(height), int(width)))


def add_a_data_set() -> None:
    """The upload form and the samples (editors and admins)."""
    with st.expander("Add a data set", expanded=not state.datasets()):
        upload_tab, sample_tab = st.tabs(["Upload a file", "Try a sample"])
        with upload_tab:
            uploaded = st.file_uploader(
                f"A table with a header row (CSV, TSV, Excel or Parquet), or a ZIP of images with one folder per "
                f"class — up to {LIMIT_MB} MB",
                type=UPLOAD_TYPES, key=f"uploader-{st.session_state.get('uploader_key', 0)}",
                help="For texts, use a table with a text column and a label column; for recommendations, a table "
                     "with user, item and rating columns. Larger files: python -m engine datasets add PATH.",
            )
            if uploaded is not None:
                try:
                    check_file_size(uploaded.size, uploaded.name, LIMIT_MB << 20)
                except DataError as error:
                    st.error(plain(error))
                else:
                    stored = _store_upload(uploaded)
                    if uploaded.name.lower().endswith(".zip"):
                        _zip_form(stored, uploaded.name)
                    else:
                        _table_form(stored, uploaded.name)
        with sample_tab:
            keys = list(SAMPLES)
            sample = st.selectbox("Sample", keys, key="sample",
                                  format_func=lambda k: f"{KIND_WORDS[SAMPLES[k].kind]}: {SAMPLES[k].title}")
            st.caption(SAMPLES[sample].description)
            if st.button("Add this sample", key="add-sample"):
                with st.spinner("Making the sample…"):
                    dataset = add_sample(sample)
                select(dataset, f"Added the sample '{dataset['name']}'.")


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

# ------------------------------------------------------------------ quality report

with quality_tab:
    reasons = [f"**Kind:** {KIND_WORDS[kind].lower()}, because {plain(detected.get('kind_reason', 'you chose it'))}."]
    if detected.get("header_reason"):
        reasons.append(f"**No header row:** {plain(detected['header_reason'])}.")
    if detected.get("encoding_reason"):
        reasons.append(f"**Text encoding:** {plain(detected['encoding_reason'])}.")
    if kind == "text":
        reasons.append(f"**Texts:** '{plain(schema['text_column'])}', because "
                       f"{plain(detected.get('text_reason', 'you chose it'))}.")
    if kind == "image":
        reasons.append(f"**Labels:** {plain(detected.get('target_reason', ''))}.")
        reasons.append(f"**Size:** {schema['width']} × {schema['height']} pixels, "
                       f"{'grey' if schema['channels'] == 1 else 'colour'}; {plain(detected.get('size_reason', ''))}.")
    else:
        target_reason = detected.get("target_reason", "you chose it")
        task_reason = detected.get("task_reason", "")
        why = target_reason if task_reason in ("", target_reason) else f"{target_reason}; {task_reason}"
        reasons.append(f"**Predicts:** '{plain(dataset['target'])}' as a {TASK_WORDS[dataset['task']].lower()}, "
                       f"because {plain(why)}.")
    st.markdown("  \n".join(reasons))
    st.caption("To change any of these, use 'Change what to predict' under Fix problems, or add the file again.")

    if not problems:
        st.success("No problems found.")
    for i, item in enumerate(problems):
        if item["severity"] == "info":
            continue
        with st.container(border=True):
            SEVERITY[item["severity"]](f"**{plain(item['title'])}.**")
            st.markdown(f"*What it does to training:* {plain(item['effect'])}  \n*Fix:* {plain(item['fix'])}")
            buttons = st.columns(max(len(item["actions"]), 1) + 2)
            for j, step in enumerate(item["actions"]):
                if buttons[j].button(label_safe(step["label"]), key=f"fix-{selected}-{i}-{j}"):
                    fix(dataset, step)
    notes = [(i, p) for i, p in enumerate(problems) if p["severity"] == "info"]
    if notes:
        with st.expander(f"Notes ({len(notes)})"):
            for i, item in notes:
                st.markdown(f"**{plain(item['title'])}.** {plain(item['effect'])} *Fix:* {plain(item['fix'])}")
                for j, step in enumerate(item["actions"]):
                    if st.button(label_safe(step["label"]), key=f"fix-{selected}-{i}-{j}"):
                        fix(dataset, step)

    left, right = st.columns(2)
    if report.get("class_counts"):
        left.plotly_chart(categories_figure(report["class_counts"], "Examples per class", "Class", "Examples"),
                          theme=None)
    missing = {k: v for k, v in report.get("missing", {}).items() if v}
    if missing:
        right.plotly_chart(categories_figure(missing, "Missing cells per column", "Column", "Missing cells"),
                           theme=None)
    if kind == "tabular" and report.get("target_stats"):
        stats = report["target_stats"]
        left.write(f"'{plain(dataset['target'])}' ranges from {stats['min']:.4g} to {stats['max']:.4g} "
                   f"(mean {stats['mean']:.4g}, median {stats['median']:.4g}).")
    if kind == "text":
        words = report["words"]
        right.markdown(f"**Words per text:** {words['min']} to {words['max']}, median {words['median']:.0f}; "
                       f"{report['empty_texts']:,} empty. Texts are cut at {report['max_length']} words.")
        edges, counts = report["length_histogram"]["edges"], report["length_histogram"]["counts"]
        lengths = pd.DataFrame({"Words": [f"{edges[k]:.0f}–{edges[k + 1]:.0f}" for k in range(len(counts))],
                                "Texts": counts})
        right.bar_chart(lengths, x="Words", y="Texts", sort=False, height=260)
    if kind == "ratings":
        dist = pd.DataFrame({"Rating": list(report["rating_distribution"]),
                             "Ratings": list(report["rating_distribution"].values())})
        left.markdown("**How often each rating is given**")
        left.bar_chart(dist, x="Rating", y="Ratings", sort=False, height=260)
        per_user, per_item = report["ratings_per_user"], report["ratings_per_item"]
        right.markdown(
            f"**{report['users']:,} users** rated {per_user['min']} to {per_user['max']} items each "
            f"(median {per_user['median']:.0f}).  \n**{report['items']:,} items** got {per_item['min']} to "
            f"{per_item['max']} ratings each (median {per_item['median']:.0f}).  \n"
            f"**{report['density']:.2%}** of all user–item pairs are rated ({report['sparsity']:.2%} empty).")
    if kind == "image":
        right.plotly_chart(categories_figure(report["sizes"], "Image sizes (width × height)", "Size", "Images"),
                           theme=None)
        st.write("Picture types: " + ", ".join(f"{plain(k)} {v:,}" for k, v in report["formats"].items())
                 + ". Colour modes: " + ", ".join(f"{plain(k)} {v:,}" for k, v in report["modes"].items()) + ".")
        if report["unreadable"]:
            more = listed_count(report, "unreadable") - len(report["unreadable"])
            st.write("Files that could not be read" + (f" (the first {len(report['unreadable']):,}; "
                                                       f"{more:,} more are not listed):" if more > 0 else ":"))
            st.dataframe(pd.DataFrame(report["unreadable"]).rename(columns={"file": "File", "why": "Why"}),
                         hide_index=True)

# ------------------------------------------------------------------ fixes

with fixes_tab:
    st.caption("Each fix makes a new version of the data set; this one stays as it is.")
    steps = available_steps(dataset)
    counts = report.get("class_counts") or {}

    with st.container(border=True):
        what = "images" if kind == "image" else "rows"
        st.markdown(f"**Drop duplicate {what}** — {report.get('duplicate_rows', report.get('duplicate_images', 0)):,} "
                    "found; one of each is kept.")
        if st.button(f"Drop duplicate {what}", key=f"clean-dups-{selected}"):
            fix(dataset, {"step": "drop_duplicates"})

    if kind != "image":
        frame_columns = list(report.get("types", {}))
        gaps = [c for c in frame_columns if report["missing"].get(c)]
        with st.container(border=True):
            st.markdown("**Missing values**")
            if not gaps:
                st.write("No column has missing values.")
            else:
                column = st.radio("Column", gaps, horizontal=True, key=f"clean-gap-column-{selected}",
                                  format_func=lambda c: f"{plain(c)} ({report['missing'][c]:,} missing)")
                ways = ["drop", *FILL_METHODS]
                way = st.radio("What to do", ways, horizontal=True, key=f"clean-gap-way-{selected}",
                               format_func={"drop": "Drop those rows", "median": "Fill with the median",
                                            "mode": "Fill with the most common value",
                                            "constant": "Fill with a value"}.get)
                value = st.text_input("Value to fill with", key=f"clean-gap-value-{selected}",
                                      disabled=way != "constant")
                if st.button("Apply", key=f"clean-gap-apply-{selected}"):
                    step = ({"step": "drop_missing", "column": column} if way == "drop" else
                            {"step": "fill_missing", "column": column, "method": way, "value": value})
                    fix(dataset, step)

    if counts:
        labels = pd.Series(list(counts)).repeat(list(counts.values()))
        mapping = merge_mapping(labels)
        with st.container(border=True):
            st.markdown("**Merge label spellings** that differ only by case, spaces or punctuation")
            if mapping:
                st.write(", ".join(f"'{plain(a)}' → '{plain(b)}'" for a, b in mapping.items()))
            else:
                st.write("Every label is spelled one way.")
            if st.button("Merge the spellings", key=f"clean-merge-{selected}", disabled=not mapping):
                fix(dataset, {"step": "merge_labels", "column": dataset["target"]})
        with st.container(border=True):
            st.markdown("**Drop classes with too few examples**")
            minimum = st.number_input("Fewest examples a class needs", 2, 10_000, MIN_CLASS_EXAMPLES,
                                      key=f"clean-rare-min-{selected}")
            rare = [k for k, v in counts.items() if v < minimum]
            st.write(f"{len(rare)} classes have fewer: " + ", ".join(f"'{plain(k)}'" for k in rare[:20])
                     if rare else "Every class has at least that many.")
            if st.button("Drop them", key=f"clean-rare-{selected}", disabled=not rare):
                fix(dataset, {"step": "drop_rare_classes", "column": dataset["target"], "min_count": int(minimum)})

    if kind == "image":
        with st.container(border=True):
            st.markdown(f"**Drop unreadable images** — {listed_count(report, 'unreadable'):,} found. They are "
                        "already left out of training; this removes them from the data set.")
            if st.button("Drop unreadable images", key=f"clean-unreadable-{selected}",
                         disabled=not report["unreadable"]):
                fix(dataset, {"step": "drop_unreadable"})
        with st.container(border=True):
            st.markdown("**Change the image size** every image is resized to")
            left, right = st.columns(2)
            width = left.number_input("Width (pixels)", MIN_SIDE, MAX_SIDE, int(schema["width"]),
                                      key=f"clean-width-{selected}")
            height = right.number_input("Height (pixels)", MIN_SIDE, MAX_SIDE, int(schema["height"]),
                                        key=f"clean-height-{selected}")
            if st.button("Resize", key=f"clean-resize-{selected}"):
                fix(dataset, {"step": "resize", "height": int(height), "width": int(width)})

    if kind == "text":
        with st.container(border=True):
            st.markdown(f"**Drop rows without text** — {report['empty_texts']:,} found.")
            if st.button("Drop rows without text", key=f"clean-empty-{selected}", disabled=not report["empty_texts"]):
                fix(dataset, {"step": "drop_empty_texts", "column": schema["text_column"]})

    if kind == "ratings":
        with st.container(border=True):
            st.markdown(f"**Keep one rating per user and item** — {report['conflicting_duplicates']:,} pairs are "
                        "rated more than once with different ratings; the latest is kept.")
            if st.button("Keep the last rating", key=f"clean-last-{selected}"):
                fix(dataset, {"step": "keep_last_rating"})
        with st.container(border=True):
            st.markdown("**Drop users with few ratings**")
            minimum = st.number_input("Fewest ratings a user needs", 2, 1000, MIN_USER_RATINGS,
                                      key=f"clean-users-min-{selected}")
            if st.button("Drop those users", key=f"clean-users-{selected}"):
                fix(dataset, {"step": "drop_rare_users", "min_count": int(minimum)})

    if kind in ("tabular", "text") and "set_target" in steps:
        with st.container(border=True):
            st.markdown("**Change what to predict**")
            columns = [c for c in report.get("types", {}) if c != schema.get("text_column")]
            target = st.radio("Column to predict", columns, horizontal=True, key=f"clean-target-{selected}",
                              format_func=plain,
                              index=columns.index(dataset["target"]) if dataset["target"] in columns else 0)
            task = dataset["task"]
            if kind == "tabular":
                tasks = ["classification", "regression"]
                task = st.radio("As", tasks, horizontal=True, index=tasks.index(dataset["task"]),
                                key=f"clean-task-{selected}",
                                format_func={"classification": "A category", "regression": "A number"}.get)
            if st.button("Use this", key=f"clean-set-target-{selected}",
                         disabled=(target, task) == (dataset["target"], dataset["task"])):
                fix(dataset, {"step": "set_target", "target": target, "task": task})

        removable = [c for c in report.get("types", {}) if c not in (dataset["target"], schema.get("text_column"))]
        if removable:
            with st.container(border=True):
                st.markdown("**Remove a column** the model should not use")
                column = st.radio("Column", removable, horizontal=True, key=f"clean-drop-column-{selected}",
                                  format_func=plain)
                if st.button("Remove it", key=f"clean-drop-column-apply-{selected}"):
                    fix(dataset, {"step": "drop_column", "column": column})

# ------------------------------------------------------------------ details

with details_tab:
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
