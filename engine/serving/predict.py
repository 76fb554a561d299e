"""A trained run's model back in memory, and predictions from it with PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from db.models import RunStatus
from engine.errors import UserError
from engine.files import model_path
from engine.serving.runtime import Predictor


@dataclass
class TrainedModel:
    """A run's model in evaluation mode on the CPU, with everything needed to feed it new inputs."""

    run_id: int
    model: nn.Module
    preprocessing: dict[str, Any]
    spec: dict[str, Any]
    config: dict[str, Any]
    dataset: dict[str, Any]
    path: Path


def load_trained(run_id: int) -> TrainedModel:
    """Give back the trained model of a completed run, or raise UserError saying why there is none."""
    from db import repo
    from engine.config import RunConfig
    from engine.models.registry import build_model
    from engine.training.checkpoint import load_checkpoint

    run = repo.get_run(run_id)
    if run is None:
        raise UserError(f"There is no run {run_id}. `python -m engine runs list` shows them.")
    path = model_path(run_id)
    if not path.exists():
        status = {RunStatus.QUEUED: "is waiting to train", RunStatus.RUNNING: "is still training",
                  RunStatus.FAILED: "failed", RunStatus.CANCELLED: "was cancelled",
                  RunStatus.INTERRUPTED: "was interrupted"}
        if run["status"] in status:
            raise UserError(f"Run {run_id} {status[run['status']]}, so it has no model to use. Pick a finished run.")
        raise UserError(f"The model file of run {run_id} is missing (it was expected at {path}). Train the run "
                        "again to get a new one.")
    checkpoint = load_checkpoint(path)  # weights_only: plain tensors and dicts, never arbitrary objects
    config = RunConfig.model_validate(checkpoint["config"])
    model = build_model(config.model, checkpoint["spec"])
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return TrainedModel(run_id=run_id, model=model, preprocessing=checkpoint["preprocessing"],
                        spec=checkpoint["spec"], config=checkpoint["config"],
                        dataset=checkpoint.get("dataset", {}), path=path)


class TorchModel:
    """A module as a function from a numpy batch to its float32 outputs."""

    def __init__(self, model: nn.Module):
        self.model = model.eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(x))).float().numpy()


def torch_predictor(trained: TrainedModel) -> Predictor:
    return Predictor(trained.preprocessing, TorchModel(trained.model), "torch")
