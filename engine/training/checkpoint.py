"""Checkpoints are plain dicts saved atomically and loaded without unpickling arbitrary objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.files import atomic_path


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write checkpoint to path so that a crash mid-write never leaves a broken file behind."""
    with atomic_path(path) as partial:
        torch.save(checkpoint, partial)


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=device, weights_only=True)


def capture_rng(shuffle: torch.Generator) -> dict[str, Any]:
    """Give back every random state training draws from, so a resumed run draws the same numbers."""
    rng = {"shuffle": shuffle.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any], shuffle: torch.Generator) -> None:
    shuffle.set_state(rng["shuffle"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
