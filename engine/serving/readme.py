"""The README of a run's export bundle: what each file is, what the model takes and gives, and code to load it that
runs as written (with an encoder of raw inputs for each kind of data), for the float models or the int8 one.
"""

from __future__ import annotations

from typing import Any

from engine.serving.measure import method_text
from engine.serving.predict import TrainedModel
from engine.serving.runtime import INT8_FILE, ONNX_FILE

INPUT_WORDS = {
    "tabular": "one row of numbers per example, shape (batch, {n_features}), float32: numeric columns scaled and "
               "categories one-hot encoded as `preprocessing.json` says (`encode` below does it).",
    "image": "images, shape (batch, {channels}, {height}, {width}), float32, resized and scaled as "
             "`preprocessing.json` says.",
    "text": "token ids, shape (batch, {max_length}), int64: each text's words looked up in the vocabulary in "
            "`preprocessing.json`, 0 pads the end.",
    "pieces": "word piece ids, shape (batch, {max_length}), int64: each text cut into the pretrained model's word "
              "pieces by `tokenizer.json`, between its start and end marks; 0 pads the end.",
    "ratings": "pairs [user index, item index], shape (batch, 2), int64: the position of the user and of the item "
               "in `labels.json` plus one (0 is an unknown user or item).",
}

OUTPUT_WORDS = {
    "classification": "one score (logit) per label; a softmax turns them into probabilities, in the order of "
                      "`labels.json`.",
    "regression": "one number per example on a standardised scale: multiply by `std` and add `mean` from "
                  "`labels.json` to get it in the target's units.",
    "rating": "one predicted rating per pair on a standardised scale: multiply by `std` and add `mean` from "
              "`labels.json`.",
}

READ_OUTPUTS = {
    "classification": """labels = json.load(open("labels.json"))["labels"]
probabilities = np.exp(outputs - outputs.max(axis=1, keepdims=True))
probabilities /= probabilities.sum(axis=1, keepdims=True)
print([labels[i] for i in probabilities.argmax(axis=1)], probabilities.max(axis=1))""",
    "regression": """target = json.load(open("labels.json"))
print(outputs[:, 0] * target["std"] + target["mean"])""",
    "rating": """target = json.load(open("labels.json"))
print(outputs[:, 0] * target["std"] + target["mean"])  # predicted ratings of the pairs""",
}

TABLE_ENCODER = '''
For tables, `encode` turns rows given as `{column: value}` into the model's input exactly as Trainyard does:

```python
import re
from datetime import datetime, timezone

prep = json.load(open("preprocessing.json"))


def number(value, default):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default  # missing or not a number: the training median
    return default if np.isnan(value) else value


def date_part(value, part):
    try:  # a date written as 2016-07-02, 2016-07-02 13:40 or 2016-07-02T13:40:00Z
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None  # missing or not a date
    if moment.tzinfo:  # times with a zone are read in UTC
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return {"days": (moment - datetime(1970, 1, 1)).total_seconds() / 86400, "month": moment.month,
            "weekday": moment.weekday(), "day": moment.day, "yearday": moment.timetuple().tm_yday,
            "hour": moment.hour + moment.minute / 60}[part]


def cell(row, column):  # a number, or one part of a date (its moment, month, day of the week … hour)
    value = row.get(column["name"])
    return date_part(value, column["date_part"]) if column.get("date_part") else value


def encode(rows):
    parts = []
    for column in prep["numeric"]:
        values = np.array([number(cell(row, column), column["median"]) for row in rows])
        if column.get("log"):  # a long-tailed column is scaled by its signed logarithm
            values = np.sign(values) * np.log1p(np.abs(values))
        parts.append(((values - column["mean"]) / column["std"])[:, None])
    for column in prep["categorical"]:
        lookup = {category: i for i, category in enumerate(column["categories"])}
        values = ["(missing)" if row.get(column["name"]) is None else str(row[column["name"]]) for row in rows]
        codes = [lookup.get(value, len(lookup)) for value in values]  # last slot: a category never seen in training
        parts.append(np.eye(len(lookup) + 1)[codes])
    for column in prep.get("texts", []):  # 1 for each of the column's words that the row's text holds
        held = [set(re.findall(prep["word_pattern"], str(row.get(column["name"]) or "").lower())) for row in rows]
        parts.append(np.array([[float(w in found) for w in column["words"]] for found in held]))
    for column in prep["numeric"]:
        if column.get("missing_input"):  # 1 where the number is missing, for columns with gaps in training
            parts.append(np.array([[float(number(cell(row, column), None) is None)] for row in rows]))
    return np.concatenate(parts, axis=1).astype(np.float32)


x = encode(example["rows"])
print(session.run(None, {"input": x})[0])
```
'''

TEXT_ENCODER = '''
For texts, `encode` turns them into the model's input exactly as Trainyard does:

```python
import re

prep = json.load(open("preprocessing.json"))
word = re.compile(prep["word_pattern"])
lookup = {w: i + 2 for i, w in enumerate(prep["vocabulary"])}  # 0 pads the end, 1 is a word it never saw


def encode(texts):
    ids = np.zeros((len(texts), prep["max_length"]), dtype=np.int64)
    for row, text in enumerate(texts):
        words = word.findall(text.lower())[: prep["max_length"]]
        ids[row, : len(words)] = [lookup.get(w, 1) for w in words]
    return ids


print(session.run(None, {"input": encode(["The first text", "and a second one"])})[0])
```
'''

IMAGE_ENCODER = '''
For image files, `encode` prepares them as Trainyard does (transparency laid on white, resized, scaled):

```python
from PIL import Image

prep = json.load(open("preprocessing.json"))


def encode(images):
    batch = []
    for image in images:
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
        image = image.convert("RGB" if prep["channels"] == 3 else "L")
        image = image.resize((prep["width"], prep["height"]), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32).reshape(prep["height"], prep["width"], prep["channels"]) / 255
        batch.append(((pixels - prep["mean"]) / prep["std"]).transpose(2, 0, 1))
    return np.stack(batch).astype(np.float32)


grey = Image.new("RGB", (prep["width"], prep["height"]), (128, 128, 128))  # or Image.open("photo.jpg")
print(session.run(None, {"input": encode([grey])})[0])
```
'''

RATINGS_RECOMMENDER = '''
To recommend items to a user, score every item for them and keep the best:

```python
users = {user: i + 1 for i, user in enumerate(target["users"])}  # 0 is a user the model never saw


def recommend(user, top=10):
    pairs = np.array([[users.get(str(user), 0), item + 1] for item in range(len(target["items"]))], dtype=np.int64)
    ratings = session.run(None, {"input": pairs})[0][:, 0] * target["std"] + target["mean"]
    ratings = ratings.clip(target["rating_min"], target["rating_max"])
    return [(target["items"][i], round(float(ratings[i]), 2)) for i in np.argsort(-ratings)[:top]]


print(recommend(target["users"][0]))
```
'''

PIECES_ENCODER = '''
For texts, `encode` turns them into the model's input exactly as Trainyard does, with the pretrained model's own
word piece tokenizer (`tokenizer.json`; `pip install tokenizers`):

```python
from tokenizers import Tokenizer

prep = json.load(open("preprocessing.json"))
tokenizer = Tokenizer.from_file("tokenizer.json")
tokenizer.no_padding()
tokenizer.no_truncation()


def encode(texts):
    ids = np.zeros((len(texts), prep["max_length"]), dtype=np.int64)  # 0 pads the end
    for row, found in enumerate(tokenizer.encode_batch(texts)):
        pieces = found.ids
        if len(pieces) > prep["max_length"]:  # the beginning, and the end mark
            pieces = pieces[: prep["max_length"] - 1] + pieces[-1:]
        ids[row, : len(pieces)] = pieces
    return ids


print(session.run(None, {"input": encode(["The first text", "and a second one"])})[0])
```
'''

KIND_EXTRAS = {"tabular": TABLE_ENCODER, "text": TEXT_ENCODER, "image": IMAGE_ENCODER, "ratings": RATINGS_RECOMMENDER}

README = """# {title}

A model trained with Trainyard (run {run_id}: `{model}` on the data set '{dataset}'), to {task_words}.

| File | What it is |
|---|---|
{model_files}
| `preprocessing.json` | how raw inputs were turned into numbers, fitted on the training rows only |
| `labels.json` | what the outputs mean |
| `example_input.json` | a few ready inputs and the outputs {example_runtime} gave for them |

**Input** (`input`): {input_words}
**Output** (`output`): {output_words}

{checked}

## Loading it

Run this in the folder of these files:

```python
import json

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("{onnx_file}")
example = json.load(open("example_input.json"))
x = np.array(example["inputs"], dtype=example["dtype"])
outputs = session.run(None, {{"input": x}})[0]
assert np.allclose(outputs, example["outputs"], rtol={tolerance}, atol={tolerance})
{read_outputs}
```
{torch_part}{extra}
Trainyard can also serve it over HTTP: `python -m engine serve {run_id} --port 8000{serve_option}`, then open
http://127.0.0.1:8000/docs.
"""

FLOAT_FILES = ("| `model.onnx` | the model for ONNX Runtime (any language; `pip install onnxruntime numpy`) |\n"
               "| `model.pt2` | the same model as a PyTorch program made by `torch.export` (`pip install torch`; no "
               "Trainyard code needed) |")

INT8_FILES = ("| `model.int8.onnx` | the model with its weights stored in 8 bits (int8), for ONNX Runtime (any "
              "language; `pip install onnxruntime numpy`) |")

FLOAT_CHECKED = ("Both files were checked against the trained PyTorch model when they were made: their outputs differ "
                 "by at\nmost {onnx:.1g} (ONNX Runtime) and {program:.1g} (PyTorch program).")

INT8_CHECKED = """This is the smaller int8 version of the model, made as {method}.
Measured against the original on the test rows when it was made: {verdict}.
int8 arithmetic differs a little between processors, so the example allows answers a hundredth apart."""

TORCH_PART = """
With PyTorch instead:

```python
import torch

model = torch.export.load("model.pt2").module()
with torch.inference_mode():
    outputs = model(torch.from_numpy(x)).numpy()
assert np.allclose(outputs, example["outputs"], rtol=1e-4, atol=1e-4)
print(outputs)
```
"""

TASK_WORDS = {"classification": "tell which label an input has", "regression": "predict the number '{target}'",
              "rating": "predict how a user would rate an item"}


def readme(trained: TrainedModel, checks: dict[str, Any], compression: dict[str, Any] | None = None) -> str:
    """Give back the bundle's README: of the float model checked against PyTorch, or of the int8 model with its
    measurement (compression, from engine.serving.compress) when given."""
    prep, spec = trained.preprocessing, trained.spec
    inputs = "pieces" if prep.get("word_pieces") else prep["kind"]
    if compression is None:
        variant = {"model_files": FLOAT_FILES, "example_runtime": "PyTorch", "onnx_file": ONNX_FILE,
                   "tolerance": "1e-4", "torch_part": TORCH_PART, "serve_option": "",
                   "checked": FLOAT_CHECKED.format(onnx=checks["onnx"]["max_abs_difference"],
                                                   program=checks["pt2"]["max_abs_difference"])}
    else:
        variant = {"model_files": INT8_FILES, "example_runtime": "this int8 model in ONNX Runtime",
                   "onnx_file": INT8_FILE, "tolerance": "1e-2", "torch_part": "", "serve_option": " --quantized",
                   "checked": INT8_CHECKED.format(method=method_text(compression), verdict=compression["verdict"])}
    return README.format(**variant,
        title=f"Trainyard run {trained.run_id}", run_id=trained.run_id, model=trained.config["model"]["name"],
        dataset=trained.dataset.get("name", "?"),
        task_words=TASK_WORDS[prep["task"]].format(target=prep.get("target", "target")),
        input_words=INPUT_WORDS[inputs].format(**spec),
        output_words=OUTPUT_WORDS[prep["task"]],
        read_outputs=READ_OUTPUTS[prep["task"]],
        extra=PIECES_ENCODER if inputs == "pieces" else KIND_EXTRAS.get(prep["kind"], ""),
    )
