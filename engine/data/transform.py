"""Applying a fitted preprocessing dict (as saved in a checkpoint) to new raw inputs, for prediction.

Pure functions of (preprocessing, raw inputs): no database, no files besides the images given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from engine.data.prepare_images import normalise_pixels
from engine.data.prepare_tables import transform_features
from engine.errors import DataError


def transform_inputs(prep: dict[str, Any], raw: Any) -> np.ndarray:
    """Give back the model input array for raw inputs of the preprocessing's kind.

    tabular: a DataFrame of rows with the input columns → float32 (N, n_features)
    text: a DataFrame with the text column, or a list of texts → int64 (N, max_length)
    image: a list of Pillow images, bytes or file paths → float32 (N, C, H, W)
    ratings: a DataFrame with the user and item columns, or a list of (user, item) pairs → int64 (N, 2)
    """
    kind = prep["kind"]
    if kind == "tabular":
        if not isinstance(raw, pd.DataFrame):
            raise DataError("Give the rows to predict as a table with the same input columns as in training.")
        return transform_features(raw, prep)
    if kind == "text":
        return transform_texts(prep, raw)
    if kind == "image":
        return transform_images(prep, raw)
    if kind == "ratings":
        if isinstance(raw, pd.DataFrame):
            for column in (prep["user_column"], prep["item_column"]):
                if column not in raw.columns:
                    raise DataError(f"The column '{column}' is missing.")
            return transform_pairs(prep, raw[prep["user_column"]], raw[prep["item_column"]])
        pairs = list(raw)
        return transform_pairs(prep, [p[0] for p in pairs], [p[1] for p in pairs])
    raise DataError(f"Unknown kind of data '{kind}'.")


def transform_texts(prep: dict[str, Any], raw: pd.DataFrame | Iterable[str]) -> np.ndarray:
    """Give back int64 token ids (N, max_length) of texts, with the training vocabulary or the model's word pieces."""
    from engine.data.text import encode_pieces, encode_texts

    if isinstance(raw, pd.DataFrame):
        if prep["text_column"] not in raw.columns:
            raise DataError(f"The text column '{prep['text_column']}' is missing.")
        raw = raw[prep["text_column"]]
    elif isinstance(raw, str):
        raw = [raw]
    if prep.get("word_pieces"):
        return encode_pieces(raw, prep["word_pieces"], prep["max_length"])
    return encode_texts(raw, prep["vocabulary"], prep["max_length"])


def _image(item: Any):
    """Give back the picture in item (a Pillow image, the bytes of a file, or its path), its size checked before
    its pixels are decoded: a small file can hold a picture too large for memory."""
    from PIL import Image

    from engine.data.images import MAX_IMAGE_PIXELS, open_image

    if isinstance(item, Image.Image):
        image = open_image(item)
    elif isinstance(item, (bytes, bytearray, memoryview)):
        image = open_image(bytes(item))
    else:
        image = open_image(Path(item).read_bytes())
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise DataError(f"it is too large ({image.width:,} × {image.height:,} pixels; at most "
                        f"{MAX_IMAGE_PIXELS // 1_000_000} million pixels are read). Send a smaller copy of it")
    return image


def transform_images(prep: dict[str, Any], raw: Sequence[Any]) -> np.ndarray:
    """Give back float32 (N, C, H, W) for images: decoded, resized and normalised as in training."""
    from PIL import Image, UnidentifiedImageError

    from engine.data.images import to_pixels

    if isinstance(raw, (bytes, str, Path)) or hasattr(raw, "mode"):
        raw = [raw]
    height, width, channels = prep["height"], prep["width"], prep["channels"]
    pixels = np.empty((len(raw), height, width, channels), dtype=np.uint8)
    for row, item in enumerate(raw):
        name = item if isinstance(item, (str, Path)) else f"image {row + 1}"
        try:
            pixels[row] = to_pixels(_image(item), height, width, channels)
        except DataError as error:
            raise DataError(f"{name}: {error}.") from None
        except Image.DecompressionBombError:
            raise DataError(f"{name} is too large to read (over {Image.MAX_IMAGE_PIXELS * 2:,} pixels). Send a "
                            "smaller copy of it.") from None
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise DataError(f"{name} could not be read as an image ({error}).") from None
    return normalise_pixels(pixels, prep["mean"], prep["std"])


def transform_pairs(prep: dict[str, Any], users: Iterable[Any], items: Iterable[Any]) -> np.ndarray:
    """Give back int64 (N, 2) [user index, item index]; 0 for an id the model never saw."""
    from engine.data.ratings import encode_pairs

    return encode_pairs(pd.Series(list(users)), pd.Series(list(items)), prep)


def candidate_pairs(prep: dict[str, Any], user: Any) -> tuple[np.ndarray, list[str]]:
    """Give back ([user, item] pairs of user with every known item, the item ids) to rank items for user."""
    items = prep["items"]
    pairs = transform_pairs(prep, [user] * len(items), items)
    return pairs, list(items)


def known_user(prep: dict[str, Any], user: Any) -> bool:
    return int(transform_pairs(prep, [user], [prep["items"][0]])[0, 0]) > 0


def decode_ratings(prep: dict[str, Any], outputs: np.ndarray) -> np.ndarray:
    """Give back standardised model outputs on the ratings' own scale, within their range."""
    values = np.asarray(outputs, dtype=np.float64) * prep["target_std"] + prep["target_mean"]
    return np.clip(values, prep["rating_min"], prep["rating_max"])


def decode_numbers(prep: dict[str, Any], outputs: np.ndarray) -> np.ndarray:
    """Give back regression outputs on the target's own scale."""
    return np.asarray(outputs, dtype=np.float64) * prep["target_std"] + prep["target_mean"]


def class_names(prep: dict[str, Any]) -> list[str]:
    return list(prep.get("classes", []))
