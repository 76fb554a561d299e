"""Choosing the device a run trains on. GPUs are handed to runs through CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """Give back the device for preference: 'auto' tries CUDA, then Apple MPS, then the CPU."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        from engine.errors import TrainingError

        raise TrainingError("This run asks for a GPU, but the machine training it has none. Choose 'auto' or 'cpu'.")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
