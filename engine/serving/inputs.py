"""From what a person gives (rows, texts, images, user ids) to the model's input array, and from its outputs
back to answers in the person's words. One adapter per kind of data, looked up by the preprocessing's "kind".

Nothing here imports torch: the dashboard's playground runs the exported model with ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data.transform import decode_numbers, decode_ratings, transform_inputs, transform_pairs
from engine.errors import DataError
from engine.serving import DEFAULT_TOP, MAX_TOP


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def class_answers(prep: dict[str, Any], outputs: np.ndarray) -> list[dict[str, Any]]:
    """Give back, per row of logits, the most likely label, its probability and every label's probability."""
    probabilities = softmax(outputs.astype(np.float64))
    classes = prep["classes"]
    answers = []
    for row in probabilities:
        best = int(row.argmax())
        answers.append({"prediction": classes[best], "confidence": float(row[best]),
                        "probabilities": {label: float(p) for label, p in zip(classes, row)}})
    return answers


def number_answers(prep: dict[str, Any], outputs: np.ndarray) -> list[dict[str, Any]]:
    """Give back, per output, the number in the target column's own units (training standardised it)."""
    return [{"prediction": float(v)} for v in decode_numbers(prep, outputs.reshape(len(outputs), -1)[:, 0])]


ANSWERS = {"classification": class_answers, "regression": number_answers}


def item_label(item: dict[str, Any]) -> str:
    """Give back how a recommended item is shown: its name with its id, or its id alone."""
    return f"{item['name']} ({item['item']})" if item.get("name") and item["name"] != item["item"] else item["item"]


class Inputs:
    """How one kind of data reads raw inputs, encodes them for the model and reads the model's outputs."""

    kind = ""
    noun = "input"  # how one input is called in messages: "row", "text", "image", "user"

    def read_files(self, prep: dict[str, Any], arguments: list[str]) -> tuple[Any, list[str]]:
        """Give back (raw inputs, a name for each) from the command line's INPUT arguments."""
        raise NotImplementedError

    def count(self, raw: Any) -> int:
        return len(raw)

    def encode(self, prep: dict[str, Any], raw: Any) -> np.ndarray:
        return transform_inputs(prep, raw)

    def answer(self, prep: dict[str, Any], outputs: np.ndarray, raw: Any, x: np.ndarray,
               **options: Any) -> list[dict[str, Any]]:
        """Give back one answer per raw input from the model's outputs for x, the encoded inputs."""
        return ANSWERS[prep["task"]](prep, outputs)

    def example(self, prep: dict[str, Any]) -> Any:
        """Give back one typical raw input, for documentation and checks."""
        raise NotImplementedError


def _read_table_files(arguments: list[str]) -> pd.DataFrame:
    from engine.data.tables import TABLE_FILES, read_table

    frames = []
    for argument in arguments:
        path = Path(argument)
        if not path.is_file():
            raise DataError(f"There is no file at '{argument}'. Give a file of rows ({TABLE_FILES}).")
        frames.append(read_table(path, fewest_columns=1))
    return pd.concat(frames, ignore_index=True)


class TableInputs(Inputs):
    kind, noun = "tabular", "row"

    def columns(self, prep: dict[str, Any]) -> list[str]:
        from engine.data.prepare_tables import input_columns

        return [name for name, _, _ in input_columns(prep)]

    def read_files(self, prep, arguments):
        frame = _read_table_files(arguments)
        return frame, [f"row {i + 1}" for i in range(len(frame))]

    def encode(self, prep, raw: pd.DataFrame | list[dict[str, Any]]) -> np.ndarray:
        if isinstance(raw, list):  # rows already checked by the service's request type: no frame needed
            from engine.data.prepare_tables import transform_records

            return transform_records(raw, prep)
        missing = [name for name in self.columns(prep) if name not in raw.columns]
        if missing:
            raise DataError(f"These input columns are missing: {', '.join(missing)}. Every row needs the columns "
                            f"the model was trained on: {', '.join(self.columns(prep))}.")
        return transform_inputs(prep, raw)

    def example(self, prep):
        from engine.data.prepare_tables import input_columns

        return pd.DataFrame([{name: typical for name, _, typical in input_columns(prep)}])


class TextInputs(Inputs):
    kind, noun = "text", "text"

    def text_column(self, prep: dict[str, Any]) -> str:
        return prep.get("text_column", "text")

    def frame(self, prep: dict[str, Any], texts: list[str]) -> pd.DataFrame:
        return pd.DataFrame({self.text_column(prep): [str(t) for t in texts]})

    def read_files(self, prep, arguments):
        frame = _read_table_files(arguments)
        column = self.text_column(prep)
        if column not in frame.columns:
            raise DataError(f"The file needs a column named '{column}' holding the texts.")
        return frame, [f"row {i + 1}" for i in range(len(frame))]

    def example(self, prep):
        return self.frame(prep, ["an example text"])


class ImageInputs(Inputs):
    kind, noun = "image", "image"

    def read_files(self, prep, arguments):
        images = []
        for argument in arguments:
            path = Path(argument)
            if not path.is_file():
                raise DataError(f"There is no image file at '{argument}'.")
            images.append(path.read_bytes())
        return images, [Path(a).name for a in arguments]

    def example(self, prep):
        import io

        from PIL import Image

        height, width = prep.get("height", 32), prep.get("width", 32)
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, format="PNG")
        return [buffer.getvalue()]


class RatingInputs(Inputs):
    """Ratings: each input is a user; the model scores every known item for them and the best come back."""

    kind, noun = "ratings", "user"

    def read_files(self, prep, arguments):
        return list(arguments), [str(a) for a in arguments]

    def user_indices(self, prep: dict[str, Any], raw: list[Any]) -> np.ndarray:
        """Give back each user's index as the model knows it (0: a user it never saw)."""
        return transform_pairs(prep, raw, [prep["items"][0]] * len(raw))[:, 0]

    def encode(self, prep, raw):
        # Every item for every user: (users × items, 2) pairs; item i of prep["items"] has index i + 1.
        n_items = len(prep["items"])
        users = np.repeat(self.user_indices(prep, raw), n_items)
        items = np.tile(np.arange(1, n_items + 1, dtype=np.int64), len(raw))
        return np.stack([users, items], axis=1)

    def answer(self, prep, outputs, raw, x, top: int = DEFAULT_TOP, **options):
        items = [str(i) for i in prep["items"]]
        names = prep.get("item_names")  # from the data set's column of item names, when it has one
        ratings = decode_ratings(prep, outputs.reshape(len(raw), len(items)))
        known = x[:: len(items), 0] > 0  # each user's first pair holds their index
        top = max(1, min(int(top), MAX_TOP, len(items)))
        answers = []
        for user, is_known, row in zip(raw, known, ratings):
            best = np.argsort(-row, kind="stable")[:top]
            answers.append({"user": str(user), "known_user": bool(is_known),
                            "top_items": [{"item": items[i], "predicted_rating": float(row[i])}
                                          | ({"name": names[i]} if names else {}) for i in best]})
        return answers

    def example(self, prep):
        return [str(prep["users"][0])] if prep.get("users") else ["1"]


INPUTS: dict[str, Inputs] = {adapter.kind: adapter for adapter in
                             (TableInputs(), TextInputs(), ImageInputs(), RatingInputs())}


def inputs_for(prep: dict[str, Any]) -> Inputs:
    """Give back the adapter for the kind of data the model was trained on."""
    try:
        return INPUTS[prep["kind"]]
    except KeyError:
        raise DataError(f"Trainyard cannot make predictions for {prep.get('kind')} data.") from None
