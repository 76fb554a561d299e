"""A short measurement of this machine: how long a training step takes, so run times can be estimated.

`python -m engine calibrate` times a few steps of two small networks and stores, per device, the seconds a step
costs on its own and per unit of work (see engine.models.estimate.step_work) in $TRAINYARD_HOME/calibration.json.
Reading that file needs no torch, so the dashboard can show estimates.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from db.session import trainyard_home

CALIBRATION_FILE = "calibration.json"
# (hidden widths, batch size): a step that is mostly overhead, and one that is mostly arithmetic.
PROBES = (([32], 16), ([512, 512], 256))
N_FEATURES, N_OUTPUTS = 64, 8
WARMUP_STEPS, TIMED_STEPS = 5, 40


def calibration_path() -> Path:
    return trainyard_home() / CALIBRATION_FILE


def load_calibration(device: str = "auto") -> dict[str, Any] | None:
    """Give back the stored measurement for device ('auto' means the device 'auto' picked), or None."""
    try:
        document = json.loads(calibration_path().read_text())
        name = document.get("auto", "cpu") if device == "auto" else device.split(":")[0]
        found = document["devices"][name]
        return {**found, "device": name, "measured_at": document.get("measured_at")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def measure(device: str = "auto", progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Time training steps on device and store the result; give back the stored document."""
    import torch

    from engine.config import TrainingConfig
    from engine.models.estimate import step_work
    from engine.models.registry import build_model, model_size
    from engine.models.zoo.mlp import MLPConfig
    from engine.training.device import set_up_device
    from engine.training.loop import make_optimizer

    from engine.errors import UserError

    name = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device.split(":")[0]
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("This computer has no GPU that training can use; measure the CPU instead (device 'auto').")
    if name not in ("cpu", "cuda", "mps"):
        raise UserError(f"'{device}' is not a device Trainyard knows; use 'auto', 'cpu' or 'cuda'.")
    target = torch.device(device if device != "auto" else name)
    set_up_device(target)  # time the steps as a run takes them: same memory setting and optimiser kernels
    spec = {"kind": "tabular", "task": "classification", "n_features": N_FEATURES, "n_outputs": N_OUTPUTS}
    total = len(PROBES) * (WARMUP_STEPS + TIMED_STEPS)
    done, points = 0, []
    for widths, batch_size in PROBES:
        config = MLPConfig(hidden_sizes=widths)
        model = build_model(config, spec, seed=0).to(target)
        optimizer = make_optimizer(model, TrainingConfig())
        inputs = torch.randn(batch_size, N_FEATURES, device=target)
        labels = torch.randint(0, N_OUTPUTS, (batch_size,), device=target)
        for step in range(WARMUP_STEPS + TIMED_STEPS):
            if step == WARMUP_STEPS:
                if target.type == "cuda":
                    torch.cuda.synchronize()
                clock = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(inputs), labels)
            loss.backward()
            optimizer.step()
            done += 1
            if progress:
                progress(done, total)
        if target.type == "cuda":
            torch.cuda.synchronize()
        points.append((step_work(model_size(config, spec), batch_size), (time.perf_counter() - clock) / TIMED_STEPS))
    (small_work, small_time), (large_work, large_time) = points
    per_unit = max(0.0, (large_time - small_time) / (large_work - small_work))
    per_step = max(1e-5, small_time - per_unit * small_work)
    found = {"seconds_per_step": per_step, "seconds_per_unit": per_unit, "threads": torch.get_num_threads()}
    path = calibration_path()
    try:
        document = json.loads(path.read_text())
        document["devices"]  # noqa: B018 - an old or broken file is replaced
    except (OSError, ValueError, KeyError, TypeError):
        document = {"devices": {}}
    document["devices"][name] = found
    if device == "auto":
        document["auto"] = name
    document["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return {**found, "device": name, "measured_at": document["measured_at"]}
