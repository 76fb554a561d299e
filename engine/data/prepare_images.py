"""Preparing images: their pixels at the size a run asks for (cached on disk), normalised per channel with the
training images' mean and std."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data.prepare_tables import transform_target
from engine.data.prepared import PreparedData, save_quietly


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
