"""Scoring a model on a split: loss and the task's metrics, computed with scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm
from torch import nn
from torch.nn import functional as F


@torch.no_grad()
def predict_batches(model: nn.Module, x: torch.Tensor, batch_size: int = 4096,
                    device: torch.device | None = None) -> torch.Tensor:
    """Give back the model's raw float32 outputs for x, computed in batches in evaluation mode.

    With a device, each batch is moved there first (for data kept in CPU memory while the model is on a GPU).
    """
    was_training = model.training
    model.eval()
    outputs = [model(x[i:i + batch_size].to(device or x.device, non_blocking=True)).float()
               for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def _regression_loss(outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.mse_loss(outputs.squeeze(-1).float(), targets)


def _classification_loss(outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(outputs.float(), targets, label_smoothing=label_smoothing)


# Regression and rating targets are standardised, so mean squared error is on the same scale for every column.
LOSSES = {"classification": _classification_loss, "regression": _regression_loss, "rating": _regression_loss}


def task_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Give back the training loss of outputs (the model's logits or numbers) against targets.

    Outputs of an ensemble in training, (members, batch, n_outputs), give the mean of the members' losses.
    """
    if outputs.dim() == 3:
        members = outputs.shape[0]
        outputs = outputs.reshape(-1, outputs.shape[-1])
        targets = targets.repeat(members, *([1] * (targets.dim() - 1)))
    return LOSSES[task](outputs, targets, label_smoothing)


def combined(outputs: torch.Tensor) -> torch.Tensor:
    """Give back (batch, n_outputs): an ensemble's training outputs averaged over its members, others unchanged."""
    return outputs.mean(0) if outputs.dim() == 3 else outputs


def score(task: str, outputs: torch.Tensor, targets: torch.Tensor, prefix: str,
          target_std: float = 1.0) -> dict[str, float]:
    """Give back {prefix_loss, prefix_accuracy, ...} for outputs against targets."""
    targets = targets.to(outputs.device)
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
             target_std: float = 1.0, batch_size: int = 4096, device: torch.device | None = None) -> dict[str, Any]:
    return score(task, predict_batches(model, x, batch_size, device), y, prefix, target_std)
