"""Readable forms of one test example, for the worst mistakes of an evaluation report (engine.training.report).

A row read back from its features, a text from its word ids or word pieces, a picture as a small PNG, a user and
an item by their names; explanations (engine.explain) show rows the same way.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable

import numpy as np


def _describe_row(prep: dict[str, Any], x: np.ndarray) -> dict[str, Any]:
    """Give back the row's values read back from its features (an empty number as None where the model was told
    it was empty, else as the median filled in; a text as the words of it that the model reads)."""
    from engine.data.prepare_tables import column_inputs, date_text, unscale_numbers

    row: dict[str, Any] = {}
    numeric: dict[str, dict[str, Any]] = {}
    for column in prep["numeric"]:
        numeric.setdefault(column["name"], column)  # a date by its first part, its moment (DATE_PARTS)
    categorical = {column["name"]: column for column in prep["categorical"]}
    texts = {column["name"]: column["words"] for column in prep.get("texts", [])}
    for name, inputs in column_inputs(prep):
        if name in texts:  # the words read, in the order of the column's most common words
            row[name] = " ".join(word for word, held in zip(texts[name], x[inputs]) if held > 0.5)
        elif name in numeric:
            column = numeric[name]
            empty = column.get("missing_input") and x[inputs[-1]] > 0.5  # the gap input comes last
            value = float(unscale_numbers(x[inputs[0]], column))
            row[name] = None if empty else date_text(value) if column.get("date_part") else round(value, 6)
        else:
            code = int(np.argmax(x[inputs]))
            categories = categorical[name]["categories"]
            row[name] = categories[code] if code < len(categories) else "(other)"
    return row


def _describe_text(prep: dict[str, Any], x: np.ndarray) -> str:
    if prep.get("word_pieces"):  # the pretrained model's own pieces, joined back into (lower-case) words
        from engine.data.text import piece_tokenizer

        return piece_tokenizer(prep["word_pieces"]).decode([int(t) for t in x if t != 0], skip_special_tokens=True)
    vocabulary = prep.get("vocabulary")
    if not vocabulary:
        return f"{int((x != 0).sum())} words"
    words = {i + 2: word for i, word in enumerate(vocabulary)}  # 0 is padding, 1 an unknown word
    return " ".join(words.get(int(t), "…") for t in x if t != 0)


def _describe_image(prep: dict[str, Any], x: np.ndarray) -> str:
    """Give back the image as a small PNG in a data URL, its pixels restored from the normalised values."""
    from PIL import Image

    if "mean" in prep and "std" in prep:
        values = x * np.asarray(prep["std"])[:, None, None] + np.asarray(prep["mean"])[:, None, None]
    else:
        values = (x - x.min()) / (float(x.max() - x.min()) or 1.0)
    pixels = (values.clip(0, 1) * 255).round().astype(np.uint8)
    pixels = pixels[0] if pixels.shape[0] == 1 else np.transpose(pixels[:3], (1, 2, 0))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _describe_pair(prep: dict[str, Any], x: np.ndarray) -> dict[str, str]:
    users, items = prep.get("users", []), prep.get("items", [])
    user, item = int(x[0]), int(x[1])
    return {"user": str(users[user - 1]) if 0 < user <= len(users) else "unknown",
            "item": str(items[item - 1]) if 0 < item <= len(items) else "unknown"}


DESCRIBE: dict[str, Callable[[dict[str, Any], np.ndarray], Any]] = {
    "tabular": _describe_row, "text": _describe_text, "image": _describe_image, "ratings": _describe_pair}


def describe_example(prep: dict[str, Any], x: np.ndarray) -> Any:
    """Give back a readable form of one test input (a row, a text, an image, a user and item)."""
    try:
        return DESCRIBE[prep["kind"]](prep, x)
    except Exception:  # a report without inputs beats no report
        return None
