"""Playground: try a finished run's model on your own row, text, image or user and see what it answers.

The page runs the run's exported ONNX file with ONNX Runtime in this process: it answers in milliseconds, does
not import torch, and tries the very file a user downloads. The export is made once per run, by a child
process (`python -m engine export RUN_ID --format onnx`), the first time the run is opened here.
"""

import io
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.components.eval_figures import probabilities_figure, top_items_figure
from dashboard.components.explanations import explain_answer, original_model_words, show_explanation
from dashboard.components.text import label_safe, markdown_safe
from dashboard.components.trained import choose_finished_run, run_engine
from db.csv_export import frame_csv
from engine.data.prepare_tables import input_columns
from engine.data.tables import TABLE_FILES, TABLE_SUFFIXES, read_table
from engine.errors import UserError
from engine.serving import DEFAULT_TOP
from engine.serving.compress import read_compression
from engine.serving.runtime import (INT8_FILE, ONNX_FILE, Predictor, export_folder, onnx_predictor, onnx_ready,
                                    run_folder)
from engine.words import plain_number

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
MAX_LISTED_USERS = 5000

run = choose_finished_run("Playground", "No finished runs yet. Train a model under **New run**; when it finishes, "
                                        "you can try it here.")
if run is None:
    st.stop()
run_id = run["id"]

if not (run_folder(run_id) / "model.pt").exists():
    st.error(f"The model file of run {run_id} is missing, so it cannot be tried. Train the run again to get a new one.")
    st.stop()
if not onnx_ready(run_id):
    with st.spinner("Getting this model ready to try (once per model, usually under half a minute)…"):
        ok, answer = run_engine("export", str(run_id), "--format", "onnx")
    if not ok:
        st.error(f"This model cannot be tried here: {markdown_safe(answer)}")
        st.stop()


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_predictor(run_id: int, modified: float, quantized: bool = False) -> Predictor:
    return onnx_predictor(run_id, threads=1, quantized=quantized)


VERSIONS = ["original", "int8 (smaller)"]
int8 = read_compression(run_id, any_pruning=True) if onnx_ready(run_id, quantized=True) else None
if int8 is not None:
    version = st.radio("Model", VERSIONS, horizontal=True, key="model-version",
                       help="The int8 version stores its weights in 8 bits instead of 32: " + int8["verdict"] + ".")
elif st.button("Make a smaller int8 version to try", key="make-int8", icon=":material/compress:",
               help="Stores the weights in 8 bits instead of 32 and measures it against the original."):
    with st.spinner("Making and measuring the int8 version (usually under a minute)…"):
        ok, answer = run_engine("export", str(run_id), "--format", "onnx", "--quantize", "int8")
    if ok:
        st.rerun()
    st.error(f"No int8 version could be made: {markdown_safe(answer)}")
quantized = int8 is not None and version == VERSIONS[1]
model_file = export_folder(run_id) / (INT8_FILE if quantized else ONNX_FILE)
predictor = cached_predictor(run_id, model_file.stat().st_mtime, quantized)
prep = predictor.preprocessing


# ---------------------------------------------------------------- answers, per task


def show_class(answer: dict) -> None:
    left, right = st.columns([1, 2])
    left.metric("Prediction", answer["prediction"])
    left.caption(f"{answer['confidence']:.0%} sure")
    right.plotly_chart(probabilities_figure(answer["probabilities"]), theme=None, key="probabilities")


def show_number(answer: dict) -> None:
    st.metric(f"Predicted {label_safe(prep.get('target', 'value'))}", plain_number(answer["prediction"], 4))


def show_items(answer: dict) -> None:
    if not answer["known_user"]:
        st.info("The model never saw this user, so these are the items most people rate highly.")
    st.plotly_chart(top_items_figure(answer["top_items"], prep.get("rating_min"), prep.get("rating_max")),
                    theme=None, key="top-items")


SHOW = {"classification": show_class, "regression": show_number, "rating": show_items}


def explain_below(given, answer: dict, picture: bytes | None = None, **options) -> None:
    """Show why the model answered what it did for one input (computed by the engine in a child process)."""
    st.markdown("**Why this answer**")
    if result := explain_answer(run_id, prep["kind"], given, **options):
        show_explanation(result, prep["kind"], key="why", picture=picture)
        if quantized:
            st.caption(original_model_words(result, answer))


def answer_for(raw, names: list[str] | None = None, **options) -> list[dict] | None:
    """Give back the model's answers, or show in plain words why there are none."""
    try:
        return predictor.predict(raw, names, **options)
    except UserError as error:
        st.error(markdown_safe(error))
        return None


# ---------------------------------------------------------------- inputs, per kind of data


def try_a_row() -> None:
    one, many = st.tabs(["Fill in a row", "Upload rows"])
    with one:
        with st.form("row-form"):
            st.caption("Start from typical values and change what you like.")
            values = {}
            cells = st.columns(3)
            categories = {column["name"]: column["categories"] for column in prep["categorical"]}
            for i, (name, kind, typical) in enumerate(input_columns(prep)):
                if kind == "number":
                    values[name] = cells[i % 3].number_input(
                        label_safe(name), value=float(typical), format="%.6g", key=f"number-{i}")
                elif kind == "date":
                    values[name] = cells[i % 3].text_input(
                        label_safe(name), value=typical, key=f"date-{i}",
                        help="A date as year-month-day, such as 2016-07-02, perhaps with a time: 2016-07-02 13:40.")
                elif kind == "text":
                    values[name] = cells[i % 3].text_area(
                        label_safe(name), value=typical, key=f"text-{i}",
                        help="A few words or sentences. The model reads which of the words it learnt they hold.")
                else:
                    values[name] = cells[i % 3].selectbox(label_safe(name), categories[name], key=f"category-{i}")
            pressed = st.form_submit_button("Predict", type="primary", icon=":material/bolt:")
        if pressed and (answers := answer_for(pd.DataFrame([values]))):
            SHOW[prep["task"]](answers[0])
            explain_below(pd.DataFrame([values]), answers[0])
    with many:
        upload = st.file_uploader(f"A table ({TABLE_FILES}) with the same columns as the training data",
                                  type=sorted(suffix.lstrip(".") for suffix in TABLE_SUFFIXES), key="rows-file")
        if upload is not None:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "rows"
                path.write_bytes(upload.getvalue())
                try:
                    frame = read_table(path, original_name=upload.name)
                except UserError as error:
                    st.error(markdown_safe(error))
                    return
            answers = answer_for(frame)
            if answers:
                result = frame.copy()
                result["Prediction"] = [a["prediction"] for a in answers]
                if "confidence" in answers[0]:
                    result["Sure"] = [a["confidence"] for a in answers]
                st.dataframe(result, hide_index=True, key="rows-result",
                             column_config={"Sure": st.column_config.NumberColumn(format="percent")})
                st.download_button("Download the predictions (CSV)", frame_csv(result),
                                   file_name="predictions.csv", mime="text/csv", key="rows-download")


def try_a_text() -> None:
    with st.form("text-form"):
        text = st.text_area("Type or paste a text", height=150, key="text",
                            placeholder="For example a review, a message or a headline.")
        pressed = st.form_submit_button("Predict", type="primary", icon=":material/bolt:")
    if pressed:
        if not text.strip():
            st.warning("Type a text first.")
        elif answers := answer_for([text]):
            SHOW[prep["task"]](answers[0])
            explain_below(pd.DataFrame({prep.get("text_column", "text"): [text]}), answers[0])


def try_an_image() -> None:
    upload, camera = st.tabs(["Upload an image", "Take a photo"])
    with upload:
        file = st.file_uploader("An image file", type=IMAGE_TYPES, key="image-file")
    with camera:
        photo = st.camera_input("Take a photo with your camera", key="camera")
    picture = photo or file
    if picture is None:
        st.caption(f"The model sees images as {prep['width']} × {prep['height']} pixels.")
        return
    data = picture.getvalue()
    left, right = st.columns([1, 3])
    left.image(io.BytesIO(data), width=160)
    with right:
        answers = answer_for([data])
        if answers:
            SHOW[prep["task"]](answers[0])
    if answers:
        explain_below(data, answers[0], picture=data)


def try_a_user() -> None:
    users = [str(u) for u in prep["users"]]
    with st.form("user-form"):
        if len(users) <= MAX_LISTED_USERS:
            user = st.selectbox("User", users, key="user")
        else:
            user = st.text_input("User id", value=users[0], key="user")
        top = st.slider("How many items", 1, min(50, len(prep["items"])), min(DEFAULT_TOP, len(prep["items"])),
                        key="top")
        pressed = st.form_submit_button("Recommend", type="primary", icon=":material/bolt:")
    if pressed and (answers := answer_for([user], top=top)):
        SHOW[prep["task"]](answers[0])
        explain_below(user, answers[0], top=top)


PLAYGROUNDS = {"tabular": try_a_row, "text": try_a_text, "image": try_an_image, "ratings": try_a_user}

st.caption(("Answers come from the smaller int8 version: " + int8["verdict"] + "." if quantized else
            "Answers come from the exported model file — the same file as in the download on the Evaluate page."))
PLAYGROUNDS[prep["kind"]]()
