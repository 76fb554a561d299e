"""What the machine has left: CPU, memory, disk and GPUs, read without importing torch."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import psutil

LOW_DISK_BYTES = 2 * 1024**3  # warn below 2 GiB free…
LOW_DISK_SHARE = 0.05  # …or below 5% of the disk


def disk_status(path: Path) -> dict[str, Any]:
    """Give back free and total bytes where path lives, and a plain warning when space runs low."""
    usage = shutil.disk_usage(path)
    low = usage.free < LOW_DISK_BYTES or usage.free / usage.total < LOW_DISK_SHARE
    warning = (f"Only {usage.free / 1024**3:.1f} GB of disk space is left where Trainyard keeps its files "
               f"({path}). Runs write checkpoints there; delete old runs or data sets, or free space, "
               "before it runs out.") if low else None
    return {"free_bytes": usage.free, "total_bytes": usage.total, "warning": warning}


def gpu_status() -> list[dict[str, Any]]:
    """Give back utilisation and memory for each GPU (through NVML; empty when there is none)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    gpus = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append({
                "index": index, "name": name.decode() if isinstance(name, bytes) else name,
                "utilization": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                "memory_used_mb": memory.used / 1024**2, "memory_total_mb": memory.total / 1024**2,
            })
    finally:
        pynvml.nvmlShutdown()
    return gpus


def machine_status(home: Path) -> dict[str, Any]:
    """Give back the machine's CPU, memory, disk and GPU figures for the dashboard."""
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": psutil.cpu_percent(interval=None), "cpus": os.cpu_count(),
        "memory_percent": memory.percent, "memory_used_gb": (memory.total - memory.available) / 1024**3,
        "memory_total_gb": memory.total / 1024**3, "disk": disk_status(home), "gpus": gpu_status(),
    }


class ResourceMonitor:
    """A training callback that records this run's CPU, memory and GPU use as metrics every few seconds."""

    def __init__(self, write, every_seconds: float = 5.0):
        self.write = write
        self.every_seconds = every_seconds
        self.process = psutil.Process()
        self.process.cpu_percent(interval=None)  # the first reading primes the counter
        self.last = time.monotonic()
        gpu = os.environ.get("TRAINYARD_GPU")
        self.gpu_index = int(gpu) if gpu and gpu.isdigit() else None

    def _gpu_points(self) -> dict[str, float]:
        if self.gpu_index is None:
            return {}
        for gpu in gpu_status():
            if gpu["index"] == self.gpu_index:
                return {"gpu_utilization": gpu["utilization"], "gpu_memory_mb": gpu["memory_used_mb"]}
        return {}

    def sample(self, step: int) -> None:
        now = time.time()
        values = {"cpu_percent": self.process.cpu_percent(interval=None),
                  "memory_mb": self.process.memory_info().rss / 1024**2, **self._gpu_points()}
        self.write([(f"system/{key}", step, value, None, now) for key, value in values.items()])
        self.last = time.monotonic()

    # Callback hooks (duck-typed, so this module needs no torch).
    def on_train_start(self, state) -> None:
        self.sample(state.step)

    def on_step_end(self, state, logs) -> None:
        if time.monotonic() - self.last >= self.every_seconds:
            self.sample(state.step)

    def on_epoch_end(self, state, logs) -> None:
        if time.monotonic() - self.last >= self.every_seconds:
            self.sample(state.step)

    def on_checkpoint(self, state, checkpoint) -> None: ...
    def on_train_end(self, state, logs) -> None: ...
    def on_exception(self, state, error) -> None: ...

