"""Scoring a model on a split: loss and the task's metrics, computed with scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm
from torch import nn


@torch.no_grad()
def predict_batches(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Give back the model's raw outputs for x, computed in batches in evaluation mode."""
    was_training = model.training
    model.eval()
    outputs = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def loss_function(task: str) -> nn.Module:
    return nn.CrossEntropyLoss() if task == "classification" else nn.MSELoss()


def task_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if task == "classification":
        return nn.functional.cross_entropy(outputs, targets)
    return nn.functional.mse_loss(outputs.squeeze(-1), targets)


def score(task: str, outputs: torch.Tensor, targets: torch.Tensor, prefix: str,
          target_std: float = 1.0) -> dict[str, float]:
    """Give back {prefix_loss, prefix_accuracy, ...} for outputs against targets."""
    loss = float(task_loss(task, outputs, targets))
    result = {f"{prefix}_loss": loss}
    y_true = targets.cpu().numpy()
    if task == "classification":
        y_pred = outputs.argmax(dim=-1).cpu().numpy()
        result[f"{prefix}_accuracy"] = float(skm.accuracy_score(y_true, y_pred))
        if prefix == "test":
            result["test_f1_macro"] = float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
            result["test_precision_macro"] = float(
                skm.precision_score(y_true, y_pred, average="macro", zero_division=0))
            result["test_recall_macro"] = float(skm.recall_score(y_true, y_pred, average="macro", zero_division=0))
    else:
        # Targets are standardised for training; report errors in the column's own units.
        pred = outputs.squeeze(-1).cpu().numpy() * target_std
        true = y_true * target_std
        result[f"{prefix}_rmse"] = float(np.sqrt(skm.mean_squared_error(true, pred)))
        result[f"{prefix}_mae"] = float(skm.mean_absolute_error(true, pred))
        if prefix == "test":
            result["test_r2"] = float(skm.r2_score(true, pred)) if len(true) > 1 else float("nan")
    return result


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, prefix: str,
             target_std: float = 1.0) -> dict[str, Any]:
    return score(task, predict_batches(model, x), y, prefix, target_std)
