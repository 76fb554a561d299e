"""The training loop: one function to read top to bottom."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.config import RunConfig
from engine.data.prepare import PreparedData
from engine.errors import TrainingError
from engine.training.callbacks import Callback, TrainState
from engine.training.evaluate import evaluate, task_loss

NAN_ADVICE = ("The training loss became {value} at step {step}, so the model stopped learning. "
              "Lower the learning rate (try {lr:.2g}) or turn on gradient clipping, then run it again.")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    t = config.training
    if t.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=t.learning_rate, momentum=t.momentum,
                               weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(config: RunConfig, data: PreparedData, model: nn.Module, device: torch.device,
          callbacks: list[Callback], resume: dict[str, Any] | None = None) -> tuple[TrainState, dict[str, float]]:
    """Train model on data; give back the final state and the final metrics (test scores included)."""
    # --- set up
    t = config.training
    task = data.preprocessing["task"]
    target_std = data.preprocessing.get("target_std", 1.0)
    seed_everything(t.seed)
    x_train, y_train = (torch.from_numpy(a).to(device) for a in data.arrays["train"])
    x_val, y_val = (torch.from_numpy(a).to(device) for a in data.arrays["validation"])
    n = len(x_train)
    batch_size = min(t.batch_size, n)
    steps_per_epoch = math.ceil(n / batch_size)
    model.to(device)
    optimizer = make_optimizer(model, config)
    shuffle = torch.Generator().manual_seed(t.seed)
    state = TrainState(epochs=t.epochs, steps_per_epoch=steps_per_epoch)
    if resume:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        shuffle.set_state(resume["rng"]["shuffle"])
        torch.set_rng_state(resume["rng"]["torch"])
        for key in ("epoch", "step", "samples_seen", "train_seconds", "best_metric"):
            setattr(state, key, resume["state"][key])

    def hook(name: str, *args) -> None:
        for callback in callbacks:
            getattr(callback, name)(state, *args)

    hook("on_train_start")
    try:
        while state.epoch < t.epochs and not state.stop:
            model.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(n, generator=shuffle).to(device)
            window_loss = torch.zeros((), device=device)
            window_correct = torch.zeros((), device=device, dtype=torch.long)
            window_count = 0
            for first in range(0, n, batch_size):
                # --- forward, loss, backward, clip, step
                rows = order[first:first + batch_size]
                xb, yb = x_train[rows], y_train[rows]
                outputs = model(xb)
                loss = task_loss(task, outputs, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if t.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                state.step += 1
                state.samples_seen += len(rows)
                window_loss += loss.detach() * len(rows)
                window_count += len(rows)
                if task == "classification":
                    window_correct += (outputs.detach().argmax(-1) == yb).sum()
                logs = None
                if state.step % t.log_every == 0 or first + batch_size >= n:
                    # One device sync per log window, not per step.
                    mean_loss = window_loss.item() / window_count
                    if not math.isfinite(mean_loss):
                        raise TrainingError(NAN_ADVICE.format(value=mean_loss, step=state.step,
                                                              lr=t.learning_rate / 10))
                    logs = {"train_loss": mean_loss}
                    if task == "classification":
                        logs["train_accuracy"] = window_correct.item() / window_count
                    window_loss.zero_()
                    window_correct.zero_()
                    window_count = 0
                hook("on_step_end", logs)
            _sync(device)
            epoch_seconds = time.perf_counter() - epoch_start
            state.train_seconds += epoch_seconds
            state.epoch += 1
            # --- evaluate
            logs = evaluate(model, x_val, y_val, task, "val", target_std)
            if not math.isfinite(logs["val_loss"]):
                raise TrainingError(NAN_ADVICE.format(value=logs["val_loss"], step=state.step,
                                                      lr=t.learning_rate / 10))
            logs.update({
                "learning_rate": optimizer.param_groups[0]["lr"],
                "epoch_seconds": epoch_seconds,
                "samples_per_second": n / epoch_seconds if epoch_seconds > 0 else 0.0,
            })
            hook("on_epoch_end", logs)
            # --- checkpoint
            hook("on_checkpoint", {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": {"shuffle": shuffle.get_state(), "torch": torch.get_rng_state()},
                "state": {"epoch": state.epoch, "step": state.step, "samples_seen": state.samples_seen,
                          "train_seconds": state.train_seconds, "best_metric": state.best_metric},
            })
    except BaseException as error:
        hook("on_exception", error)
        raise

    x_test, y_test = (torch.from_numpy(a).to(device) for a in data.arrays["test"])
    final = evaluate(model, x_test, y_test, task, "test", target_std)
    final["epochs_completed"] = float(state.epoch)
    final["samples_per_second"] = state.samples_seen / state.train_seconds if state.train_seconds else 0.0
    hook("on_train_end", final)
    return state, final
