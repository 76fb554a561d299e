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
changes them, so a second run loads them in a moment (engine.data.prepared). The splits are engine.data.splits's;
each kind is prepared by engine.data.prepare_tables, prepare_texts, prepare_ratings and prepare_images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.data.prepare_images import image_pixels, prepare_images
from engine.data.prepare_ratings import prepare_ratings
from engine.data.prepare_tables import _labelled, prepare_table
from engine.data.prepare_texts import prepare_text, text_splits
from engine.data.prepared import PreparedData, cache_folder, cache_key, load_cached, save_cached
from engine.data.splits import split_indices
from engine.errors import DataError


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
