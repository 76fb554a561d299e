"""Turning a stored data set into training arrays: seeded, stratified splits (or k folds) and
preprocessing fitted on the training split only.

The data contract with the models:
- `PreparedData.arrays = {"train": (x, y), "validation": (x, y), "test": (x, y)}`, numpy arrays;
- `PreparedData.preprocessing`, a JSON-able dict with "kind", "task" and all that prediction needs to
  apply the same steps to new inputs (see engine.data.transform);
- `PreparedData.spec`, what a model builder needs:
  tabular  x float32 (N, n_features)                  {kind, task, n_features, n_outputs}
  image    x float32 (N, C, H, W), normalised per channel with the training split's mean and std,
           y int64                                    {kind, task, channels, height, width, n_outputs, mean, std}
  text     x int64 (N, max_length), 0 padding, 1 unknown word, y int64
                                                      {kind, task, vocab_size, max_length, n_outputs}
  ratings  x int64 (N, 2) [user index, item index], 0 unknown, y float32 standardised with
           preprocessing["target_mean"], ["target_std"]
                                                      {kind, task, n_users, n_items, n_outputs: 1}
  vocab_size counts the two reserved ids (it is the embedding table's size); n_users and n_items count
  the known users and items only, so their tables need one more row for index 0.

Prepared arrays are kept in a tensor cache inside the data set's folder, keyed by everything that
changes them, so a second run loads them in a moment.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from engine.data.profile import MAX_CATEGORIES
from engine.errors import DataError
from engine.files import atomic_path

CACHE_VERSION = 4
# Ranges (between training quantiles) a numeric column is also read in by the table network: see engine.models.tabular.
NUMBER_RANGES = 16
# Skewness above which a numeric column is scaled by its logarithm (a normal spread has 0, an exponential 2).
LONG_TAIL_SKEW = 2.0
SPLITS = ("train", "validation", "test")


# ---------------------------------------------------------------- splits


def _strata(labels: pd.Series | None) -> np.ndarray | None:
    """Give back labels fit for stratifying: classes with one example pooled, or None if impossible."""
    if labels is None:
        return None
    labels = labels.astype(str).reset_index(drop=True)
    counts = labels.value_counts()
    if len(counts) < 2:
        return None
    single = labels.isin(counts[counts < 2].index)
    if single.sum() == 1:
        labels = labels.where(~single, counts.index[0])
    elif single.any():
        labels = labels.where(~single, "\0pooled")
    return labels.to_numpy()


def _split(index: np.ndarray, size: float, seed: int, strata: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        return train_test_split(index, test_size=size, random_state=seed, stratify=strata)
    except ValueError:  # too few rows of some class for the share asked: split without stratifying
        return train_test_split(index, test_size=size, random_state=seed)


def split_indices(labels: pd.Series | None, n_rows: int, validation_fraction: float, test_fraction: float,
                  seed: int, folds: int | None = None, fold: int = 0) -> dict[str, np.ndarray]:
    """Give back sorted row indices for train, validation and test, stratified by labels when given.

    The same seed always gives the same split. With folds=k, the test rows stay as without folds and
    the other rows are cut into k stratified folds; fold i (0-based) is the validation split.
    """
    if n_rows < 3:
        raise DataError(f"Only {n_rows} rows: at least 3 are needed for training, validation and test.")
    labels = None if labels is None else labels.reset_index(drop=True)
    index = np.arange(n_rows)
    rest, test = _split(index, test_fraction, seed, _strata(labels))
    rest_labels = None if labels is None else labels.iloc[rest]
    if folds:
        folds, fold = int(folds), int(fold)
        if not 2 <= folds <= 20 or not 0 <= fold < folds:
            raise DataError(f"Choose between 2 and 20 folds and a fold from 1 to {folds}.")
        if folds > len(rest):
            raise DataError(f"{folds} folds need at least {folds} rows outside the test split.")
        strata = _strata(rest_labels)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed) if strata is not None else \
            KFold(folds, shuffle=True, random_state=seed)
        try:
            parts = list(splitter.split(rest, strata))
        except ValueError:
            parts = list(KFold(folds, shuffle=True, random_state=seed).split(rest))
        train, val = rest[parts[fold][0]], rest[parts[fold][1]]
    else:
        share = validation_fraction / (1.0 - test_fraction)
        train, val = _split(rest, share, seed + 1, _strata(rest_labels))
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def fold_splits(labels: pd.Series | None, n_rows: int, folds: int, test_fraction: float,
                seed: int) -> list[dict[str, np.ndarray]]:
    """Give back the k splits of k-fold cross-validation, all sharing one test split."""
    return [split_indices(labels, n_rows, 0.0, test_fraction, seed, folds=folds, fold=i) for i in range(folds)]


# ---------------------------------------------------------------- tables


def is_long_tailed(values: pd.Series) -> bool:
    """Give back whether a column's values are so skewed (counts, amounts) that a network learns better from their
    logarithm: a few huge values would otherwise squeeze all the others into a sliver of the scaled range."""
    return values.nunique() > 10 and abs(float(values.skew())) > LONG_TAIL_SKEW


def signed_log(values):
    """Give back log(1 + |x|) with x's sign: a logarithm that keeps zero and negative numbers."""
    return np.sign(values) * np.log1p(np.abs(values))


def scale_numbers(values: np.ndarray, column: dict[str, Any]) -> np.ndarray:
    """Give back a numeric column's values as the model sees them (after missing cells are filled)."""
    if column.get("log"):
        values = signed_log(values)
    return (values - column["mean"]) / column["std"]


def fit_table_preprocessing(frame: pd.DataFrame, target: str, task: str, column_types: dict[str, str]) -> dict[str, Any]:
    """Learn scaling and category codes from the training rows; give back a plain, JSON-able dict."""
    from engine.data.profile import is_constant

    numeric, categorical = [], []
    for column in frame.columns:
        if column == target:
            continue
        series = frame[column]
        if is_constant(series):
            continue  # carries no information
        if column_types.get(column) == "number":
            values = series.astype(float)
            median = float(values.median()) if values.notna().any() else 0.0
            filled = values.fillna(median)
            log = is_long_tailed(filled)
            scaled = signed_log(filled) if log else filled
            std = float(scaled.std(ddof=0)) or 1.0
            mean = float(scaled.mean())
            edges = np.unique(np.quantile((scaled.to_numpy() - mean) / std, np.linspace(0, 1, NUMBER_RANGES + 1)))
            numeric.append({"name": column, "median": median, "log": log, "mean": mean, "std": std,
                            "edges": [round(float(e), 6) for e in edges]})
        elif column_types.get(column) in ("category", "text"):
            counts = series.astype("string").fillna("(missing)").value_counts()
            categorical.append({"name": column, "categories": [str(c) for c in counts.index[:MAX_CATEGORIES]]})
    if not numeric and not categorical:
        raise DataError("No input column can be used: every column besides the target is constant or empty.")
    prep: dict[str, Any] = {"kind": "tabular", "target": target, "task": task,
                            "numeric": numeric, "categorical": categorical}
    if task == "classification":
        prep["classes"] = sorted(str(value) for value in frame[target].dropna().astype(str).unique())
    else:
        values = frame[target].astype(float)
        prep["target_mean"] = float(values.mean())
        prep["target_std"] = float(values.std(ddof=0)) or 1.0
    prep["n_features"] = len(numeric) + sum(len(c["categories"]) + 1 for c in categorical)
    return prep


def transform_features(frame: pd.DataFrame, prep: dict[str, Any]) -> np.ndarray:
    """Give back the float32 feature matrix for frame, applying prep exactly as fitted."""
    out = np.zeros((len(frame), prep["n_features"]), dtype=np.float32)
    at = 0
    for column in prep["numeric"]:
        if column["name"] not in frame.columns:
            raise DataError(f"The input column '{column['name']}' is missing.")
        values = pd.to_numeric(frame[column["name"]], errors="coerce").astype(float).fillna(column["median"])
        out[:, at] = scale_numbers(values.to_numpy(), column)
        at += 1
    for column in prep["categorical"]:
        if column["name"] not in frame.columns:
            raise DataError(f"The input column '{column['name']}' is missing.")
        categories = column["categories"]
        values = frame[column["name"]].astype("string").fillna("(missing)")
        codes = pd.Index(categories).get_indexer(values).astype(np.int64)
        codes[codes < 0] = len(categories)  # the last slot: a value not seen in training
        out[np.arange(len(frame)), at + codes] = 1.0
        at += len(categories) + 1
    return out


def transform_records(records: list[dict[str, Any]], prep: dict[str, Any]) -> np.ndarray:
    """Give back what transform_features gives for pd.DataFrame(records), without pandas: the model service's
    path for rows sent as JSON, where building a frame would cost more than the model. Numbers are floats or
    None (missing); categories are compared as text, as the frame's string conversion does."""
    out = np.zeros((len(records), prep["n_features"]), dtype=np.float32)
    at = 0
    for column in prep["numeric"]:
        name, median = column["name"], column["median"]
        values = np.array([median if row.get(name) is None else row[name] for row in records], dtype=float)
        values[np.isnan(values)] = median
        out[:, at] = scale_numbers(values, column)
        at += 1
    rows = np.arange(len(records))
    for column in prep["categorical"]:
        lookup = {category: i for i, category in enumerate(column["categories"])}
        unseen, name = len(lookup), column["name"]
        codes = [lookup.get("(missing)" if row.get(name) is None else str(row[name]), unseen) for row in records]
        out[rows, at + np.array(codes, dtype=np.int64)] = 1.0
        at += len(column["categories"]) + 1
    return out


def transform_target(series: pd.Series, prep: dict[str, Any]) -> np.ndarray:
    """Give back class indices (int64) or standardised numbers (float32) for a target column."""
    if prep["task"] == "classification":
        codes = pd.Index(prep["classes"]).get_indexer(series.astype(str))
        if (codes < 0).any():
            raise DataError("A label that the model does not know was found.")
        return codes.astype(np.int64)
    return ((series.astype(float).to_numpy() - prep["target_mean"]) / prep["target_std"]).astype(np.float32)


def _labelled(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    return frame[frame[target].notna()].reset_index(drop=True)


def _all_classes(prep: dict[str, Any], labels: pd.Series) -> None:
    # A class seen only outside the training rows must still have an output.
    missing = set(labels.astype(str)) - set(prep["classes"])
    if missing:
        prep["classes"] = sorted(set(prep["classes"]) | missing)


def prepare_table(frame: pd.DataFrame, target: str, task: str, column_types: dict[str, str],
                  splits: dict[str, np.ndarray]) -> PreparedData:
    """Give back train/validation/test arrays of a table, with preprocessing fitted on the training rows."""
    prep = fit_table_preprocessing(frame.iloc[splits["train"]], target, task, column_types)
    if task == "classification":
        _all_classes(prep, frame[target])
    arrays = {}
    for split, rows in splits.items():
        part = frame.iloc[rows]
        arrays[split] = (transform_features(part, prep), transform_target(part[target], prep))
    return PreparedData(arrays=arrays, preprocessing=prep)


def prepare_text(frame: pd.DataFrame, text_column: str, label_column: str,
                 splits: dict[str, np.ndarray], word_pieces: str | None = None) -> PreparedData:
    """Give back token-id arrays of a text table; the vocabulary and length come from the training rows.

    With word_pieces (a pretrained text model's name) the ids are that model's word pieces instead, as long as the
    data set's longest text (up to the model's limit), so that every run on the data set reads the same ids.
    """
    from engine.data.text import (
        WORD,
        choose_max_length,
        encode_pieces,
        encode_texts,
        fit_vocabulary,
        piece_tokenizer,
        word_counts,
    )

    train = frame.iloc[splits["train"]]
    if word_pieces:
        ids = encode_pieces(frame[text_column], word_pieces)  # as wide as the longest text needs
        prep = {"kind": "text", "task": "classification", "text_column": text_column, "target": label_column,
                "classes": sorted(train[label_column].astype(str).unique()), "word_pieces": word_pieces,
                "max_length": ids.shape[1], "padding_index": 0,
                "vocab_size": piece_tokenizer(word_pieces).get_vocab_size()}
        _all_classes(prep, frame[label_column])
        arrays = {split: (ids[rows], transform_target(frame[label_column].iloc[rows], prep))
                  for split, rows in splits.items()}
        return PreparedData(arrays=arrays, preprocessing=prep, rows=splits)
    vocabulary = fit_vocabulary(train[text_column])
    lengths = word_counts(train[text_column])
    prep: dict[str, Any] = {
        "kind": "text", "task": "classification", "text_column": text_column, "target": label_column,
        "classes": sorted(train[label_column].astype(str).unique()), "vocabulary": vocabulary,
        "max_length": choose_max_length(lengths[lengths > 0]), "lowercase": True, "word_pattern": WORD.pattern,
        "padding_index": 0, "unknown_index": 1,
    }
    _all_classes(prep, frame[label_column])
    lookup = {word: i + 2 for i, word in enumerate(vocabulary)}
    arrays = {}
    for split, rows in splits.items():
        part = frame.iloc[rows]
        arrays[split] = (encode_texts(part[text_column], lookup, prep["max_length"]),
                         transform_target(part[label_column], prep))
    return PreparedData(arrays=arrays, preprocessing=prep)


def text_splits(frame: pd.DataFrame, target: str, validation_fraction: float, test_fraction: float, seed: int, *,
                folds: int | None = None, fold: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Give back a text table's labelled rows and each split's row indices: the rows a run's texts come from."""
    frame = _labelled(frame, target)
    return frame, split_indices(frame[target].astype(str), len(frame), validation_fraction, test_fraction, seed,
                                folds=folds, fold=fold)


def prepare_ratings(frame: pd.DataFrame, roles: dict[str, str | None], splits: dict[str, np.ndarray]) -> PreparedData:
    """Give back [user, item] index pairs and standardised ratings; id lists and scale from the training rows."""
    from engine.data.ratings import encode_pairs, fit_ratings

    prep = fit_ratings(frame.iloc[splits["train"]], roles)
    arrays = {}
    for split, rows in splits.items():
        part = frame.iloc[rows]
        ratings = pd.to_numeric(part[roles["rating"]], errors="coerce").to_numpy(dtype=float)
        y = ((ratings - prep["target_mean"]) / prep["target_std"]).astype(np.float32)
        arrays[split] = (encode_pairs(part[roles["user"]], part[roles["item"]], prep), y)
    return PreparedData(arrays=arrays, preprocessing=prep)


# ---------------------------------------------------------------- images


def channel_stats(pixels: np.ndarray, rows: np.ndarray) -> tuple[list[float], list[float]]:
    """Give back per-channel mean and std (0–1 scale) of the images at rows, in chunks to save memory."""
    channels = pixels.shape[-1]
    total, squares, count = np.zeros(channels), np.zeros(channels), 0
    for start in range(0, len(rows), 4096):
        chunk = pixels[rows[start:start + 4096]].reshape(-1, channels).astype(np.float64) / 255.0
        total += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
        count += len(chunk)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 0.0))
    return [float(m) for m in mean], [float(s) if s > 1e-6 else 1.0 for s in std]


def normalise_pixels(pixels: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """Give back float32 (N, C, H, W) from uint8 (N, H, W, C), scaled to 0–1 then standardised per channel."""
    x = pixels.astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    x -= np.asarray(mean, dtype=np.float32)
    x /= np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def image_pixels(dataset: dict[str, Any], size: tuple[int, int] | None = None) -> np.ndarray:
    """Give back uint8 pixels of the data set's readable images at size (default: its own), cached on disk."""
    from engine.data.images import check_size, decode_archive
    from engine.data.ingest import ARCHIVE_FILE, load_index, load_pixels, pixels_file

    schema = dataset["schema"]
    if size is None or tuple(size) == (schema["height"], schema["width"]):
        return load_pixels(dataset)
    height, width = check_size(*size)
    folder = Path(dataset["files_path"])
    path = folder / pixels_file(height, width)
    if path.exists():
        return np.load(path)
    index = load_index(dataset)
    files = index.loc[index["readable"]].sort_values("pixel_row")["file"].tolist()
    with zipfile.ZipFile(folder / ARCHIVE_FILE) as archive:
        pixels = decode_archive(archive, files, height, width, schema["channels"])
    save_quietly(path, pixels)
    return pixels


def prepare_images(labels: pd.Series, pixels: np.ndarray, splits: dict[str, np.ndarray]) -> PreparedData:
    """Give back normalised image arrays; the channel mean and std come from the training images."""
    mean, std = channel_stats(pixels, splits["train"])
    prep: dict[str, Any] = {
        "kind": "image", "task": "classification", "classes": sorted(labels.astype(str).unique()),
        "height": int(pixels.shape[1]), "width": int(pixels.shape[2]), "channels": int(pixels.shape[3]),
        "mean": mean, "std": std, "resize": "stretch", "background": "white",
    }
    arrays = {}
    for split, rows in splits.items():
        arrays[split] = (normalise_pixels(pixels[rows], mean, std), transform_target(labels.iloc[rows], prep))
    return PreparedData(arrays=arrays, preprocessing=prep, rows=splits)


# ---------------------------------------------------------------- the entry point


@dataclass
class PreparedData:
    """Arrays per split plus the fitted preprocessing; `spec` describes the data to a model builder."""

    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    preprocessing: dict[str, Any]
    rows: dict[str, np.ndarray] | None = None  # each split's positions in the data set, where they are known

    @property
    def spec(self) -> dict[str, Any]:
        prep = self.preprocessing
        kind, task = prep["kind"], prep["task"]
        n_outputs = len(prep["classes"]) if task == "classification" else 1
        if kind == "image":
            return {"kind": kind, "task": task, "channels": prep["channels"], "height": prep["height"],
                    "width": prep["width"], "n_outputs": n_outputs, "mean": prep["mean"], "std": prep["std"]}
        if kind == "text":
            if prep.get("word_pieces"):
                return {"kind": kind, "task": task, "vocab_size": prep["vocab_size"],
                        "max_length": prep["max_length"], "n_outputs": n_outputs, "word_pieces": prep["word_pieces"]}
            return {"kind": kind, "task": task, "vocab_size": len(prep["vocabulary"]) + 2,
                    "max_length": prep["max_length"], "n_outputs": n_outputs}
        if kind == "ratings":
            return {"kind": kind, "task": task, "n_users": len(prep["users"]), "n_items": len(prep["items"]),
                    "n_outputs": 1, "user_counts": prep.get("user_counts"), "item_counts": prep.get("item_counts")}
        return {"kind": kind, "task": task, "n_features": prep["n_features"], "n_outputs": n_outputs,
                "number_edges": [column.get("edges") for column in prep["numeric"]]}


def save_quietly(path: Path, array: np.ndarray) -> None:
    """Save a cache file atomically; a cache that cannot be written is only slower, never an error."""
    try:
        with atomic_path(path) as partial:
            np.save(partial, array)
    except OSError:
        pass


def cache_folder(dataset: dict[str, Any]) -> Path:
    """Give back the folder of a data set's caches: prepared arrays, and a pretrained encoder's features."""
    return Path(dataset["files_path"]) / "cache"


def features_path(dataset: dict[str, Any], encoder_key: str) -> Path:
    """Give back the file of a frozen pretrained encoder's features of every example of the data set."""
    return cache_folder(dataset) / f"features-{encoder_key}.npy"


def cache_key(dataset: dict[str, Any], settings: dict[str, Any]) -> str:
    parts = {"version": CACHE_VERSION, "sha256": dataset["sha256"], "kind": dataset["kind"],
             "target": dataset["target"], "task": dataset["task"], "schema": dataset["schema"], **settings}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def load_cached(folder: Path) -> PreparedData | None:
    try:
        preprocessing = json.loads((folder / "preprocessing.json").read_text())
        arrays = {split: (np.load(folder / f"{split}_x.npy"), np.load(folder / f"{split}_y.npy"))
                  for split in SPLITS}
        rows = ({split: np.load(folder / f"{split}_rows.npy") for split in SPLITS}
                if (folder / "train_rows.npy").exists() else None)
    except (OSError, ValueError):
        return None
    return PreparedData(arrays=arrays, preprocessing=preprocessing, rows=rows)


def save_cached(folder: Path, data: PreparedData) -> None:
    """Write the arrays into a fresh folder, then rename it into place: readers never see half a cache."""
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex}")
    try:
        staging.mkdir(parents=True)
        for split, (x, y) in data.arrays.items():
            np.save(staging / f"{split}_x.npy", x)
            np.save(staging / f"{split}_y.npy", y)
            if data.rows is not None:
                np.save(staging / f"{split}_rows.npy", data.rows[split])
        (staging / "preprocessing.json").write_text(json.dumps(data.preprocessing))
        staging.rename(folder)
    except OSError:  # another process won the race, or the folder is read-only
        shutil.rmtree(staging, ignore_errors=True)


def prepare_dataset(dataset: dict[str, Any], validation_fraction: float, test_fraction: float, seed: int, *,
                    folds: int | None = None, fold: int = 0, image_size: tuple[int, int] | None = None,
                    word_pieces: str | None = None, use_cache: bool = True) -> PreparedData:
    """Give back the training arrays of a stored data set, dispatching on its kind.

    folds/fold pick one fold of k-fold cross-validation; image_size (height, width) overrides an image
    data set's own size; word_pieces names the pretrained text model whose word pieces a text set is read as
    (engine.models.registry.data_options gives it for a model). Results are cached in the data set's folder.
    """
    from engine.data.ingest import load_index, load_table

    kind = dataset["kind"]
    settings = {"validation_fraction": round(float(validation_fraction), 6),
                "test_fraction": round(float(test_fraction), 6), "seed": int(seed),
                "folds": int(folds) if folds else None, "fold": int(fold) if folds else 0}
    if word_pieces and kind == "text":
        settings["word_pieces"] = word_pieces

    def splits_for(labels: pd.Series | None, rows: int) -> dict[str, np.ndarray]:
        return split_indices(labels, rows, validation_fraction, test_fraction, seed, folds=folds, fold=fold)

    if kind == "image":
        index = load_index(dataset)
        readable = index[index["readable"]].sort_values("pixel_row")
        labels = readable["label"].astype(str).reset_index(drop=True)
        pixels = image_pixels(dataset, image_size)
        data = prepare_images(labels, pixels, splits_for(labels, len(labels)))
        data.preprocessing["split"] = settings
        return data

    folder = cache_folder(dataset) / cache_key(dataset, settings)
    if use_cache and (cached := load_cached(folder)) is not None:
        return cached
    frame = load_table(dataset)
    schema = dataset["schema"]
    if kind == "tabular":
        frame = _labelled(frame, dataset["target"])
        labels = frame[dataset["target"]].astype(str) if dataset["task"] == "classification" else None
        data = prepare_table(frame, dataset["target"], dataset["task"], schema["columns"],
                             splits_for(labels, len(frame)))
    elif kind == "text":
        frame, splits = text_splits(frame, dataset["target"], validation_fraction, test_fraction, seed,
                                    folds=folds, fold=fold)
        data = prepare_text(frame, schema["text_column"], dataset["target"], splits, settings.get("word_pieces"))
    elif kind == "ratings":
        roles = schema["roles"]
        frame = frame.dropna(subset=[roles["user"], roles["item"], roles["rating"]]).reset_index(drop=True)
        frame = frame[pd.to_numeric(frame[roles["rating"]], errors="coerce").notna()].reset_index(drop=True)
        data = prepare_ratings(frame, roles, splits_for(None, len(frame)))
    else:
        raise DataError(f"Training on {kind} data sets is not available.")
    data.preprocessing["split"] = settings
    if use_cache:
        save_cached(folder, data)
    return data


def prepare_run_data(run: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Give back the run's data set and its prepared data, split as the run was."""
    from db import repo
    from engine.config import RunConfig
    from engine.models.registry import data_options

    config = RunConfig.model_validate(run["config"])
    split = config.split
    dataset = repo.get_dataset(run["dataset_id"])
    return dataset, prepare_dataset(dataset, split.validation_fraction, split.test_fraction, split.seed,
                                    **data_options(config.model.name))
