"""Choosing the device a run trains on and how it computes there. GPUs reach runs through CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import psutil
import torch

from engine.errors import TrainingError

DATA_SHARE_OF_FREE_MEMORY = 0.5  # keep the data set on the GPU only when it leaves room for the model


def pick_device(preference: str = "auto") -> torch.device:
    """Give back the device for preference: 'auto' tries CUDA, then Apple MPS, then the CPU."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("This run asks for a GPU, but the machine training it has none. "
                                "Choose 'auto' or 'cpu'.")
        if (device.index or 0) >= torch.cuda.device_count():
            raise TrainingError(f"This run asks for GPU number {device.index}, but the machine training it has "
                                f"{torch.cuda.device_count()} (numbered from 0). Choose 'auto' or another GPU.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise TrainingError("This run asks for an Apple GPU (mps), which this machine does not have. Choose 'auto'.")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def set_up_device(device: torch.device) -> None:
    """Let the GPU use its fast paths: TF32 matrix products and convolution algorithms tuned to the shapes."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)


def autocast_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """Give back the 16-bit type for mixed precision, or None for full precision.

    'auto' turns it on for CUDA only: bfloat16 where the GPU supports it (no loss scaling needed), else float16.
    """
    if choice == "off" or (choice == "auto" and device.type != "cuda"):
        return None
    if choice == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[choice]


def data_device(device: torch.device, nbytes: int) -> torch.device:
    """Give back where the data set's tensors live: on the GPU when they fit comfortably, else in CPU memory."""
    if device.type != "cuda":
        return device
    free, _total = torch.cuda.mem_get_info(device)
    return device if nbytes < DATA_SHARE_OF_FREE_MEMORY * free else torch.device("cpu")


def memory_mb(device: torch.device) -> float:
    """Give back the peak GPU memory allocated since the last call (CUDA), or this process's resident memory."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        return peak / 2**20
    return psutil.Process().memory_info().rss / 2**20
