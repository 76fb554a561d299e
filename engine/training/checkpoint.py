"""Checkpoints are plain dicts saved atomically and loaded without unpickling arbitrary objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write checkpoint to path so that a crash mid-write never leaves a broken file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(checkpoint, partial)
    os.replace(partial, path)


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=device, weights_only=True)
