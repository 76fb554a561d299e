"""What preparing a data set gives back (PreparedData, whose spec describes the data to a model builder; the data
contract is in engine.data.prepare's docstring) and the cache of prepared arrays in the data set's folder.

The cache holds .npy arrays and a preprocessing.json only, nothing pickled, keyed by everything that changes them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.files import atomic_path

CACHE_VERSION = 4
SPLITS = ("train", "validation", "test")


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
                "number_edges": [column.get("edges") for column in prep["numeric"]],
                "category_counts": [column.get("counts") for column in prep["categorical"]]}


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


def partial_path(path: Path) -> Path:
    """Give back the file where a reading of every example that stopped part way keeps what it had read."""
    return path.with_name(path.stem + ".partial.npz")


def left_to_read(path: Path) -> float:
    """Give back the share of a data set's reading its encoder has still to do (counted as in
    engine.training.encoded.Reading): 0 with its cache (path), what a reading stopped part way left, else 1."""
    if path.exists():
        return 0.0
    try:
        with np.load(partial_path(path)) as saved:
            return float(1 - saved["read"])
    except (OSError, ValueError, KeyError):
        return 1.0


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
