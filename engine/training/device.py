"""Choosing the device a run trains on and how it computes there. GPUs reach runs through CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import ctypes
import functools
import platform

import psutil
import torch

from engine.errors import TrainingError

DATA_SHARE_OF_FREE_MEMORY = 0.5  # keep the data set on the GPU only when it leaves room for the model
# glibc's mallopt settings (malloc.h) and the values a training process uses: blocks up to 32 MB (the most glibc
# allows) come from the heap, and up to 256 MB of freed heap stays with the process instead of going back.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_BELOW, KEEP_FREED = 32 * 2**20, 256 * 2**20


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


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for the next training step; give back whether it agreed.

    By default glibc gives every large block back to the system when it is freed and asks for it again, page by
    page, on the next step: training the Seed CNN on a CPU took 1.7 million page faults per 20,000 images and
    ran 1.3-1.4× slower than with memory kept for reuse. A run's process is short-lived and does only this.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BELOW)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED))


def set_up_device(device: torch.device) -> None:
    """Keep freed memory for reuse; let a GPU use its fast paths: TF32 matrix products and convolution algorithms
    tuned to the shapes."""
    keep_freed_memory()
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
