"""Everything optional in training plugs in here: each callback overrides a few hooks."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


class StopTraining(Exception):
    """Raised by a callback to end training early; reason is 'cancelled' or 'interrupted'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class TrainState:
    epochs: int
    steps_per_epoch: int
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    samples_seen: int = 0
    train_seconds: float = 0.0  # time spent in training steps, evaluation excluded
    best_metric: float | None = None
    stop: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def progress(self) -> float:
        return min(1.0, self.step / max(1, self.total_steps))


class Callback:
    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState, logs: dict[str, float] | None) -> None: ...
    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...
    def on_checkpoint(self, state: TrainState, checkpoint: dict[str, Any]) -> None: ...
    def on_train_end(self, state: TrainState, logs: dict[str, float]) -> None: ...
    def on_exception(self, state: TrainState, error: BaseException) -> None: ...


class MetricLogger(Callback):
    """Collects metric points and hands them to `write` in batches, at most every flush_seconds; the first at
    once, so that a run's page draws its curve as soon as there is one."""

    def __init__(self, write, flush_seconds: float = 1.0):
        self.write = write
        self.flush_seconds = flush_seconds
        self.pending: list[tuple[str, int, float, float | None, float]] = []
        self.last_flush = -math.inf

    def add(self, state: TrainState, logs: dict[str, float], epoch: float | None = None) -> None:
        now = time.time()
        epoch = state.step / max(1, state.steps_per_epoch) if epoch is None else epoch
        for key, value in logs.items():
            if value is not None and math.isfinite(value):
                self.pending.append((key, state.step, float(value), epoch, now))

    def flush(self) -> None:
        if self.pending:
            points, self.pending = self.pending, []
            self.write(points)
        self.last_flush = time.monotonic()

    def on_step_end(self, state, logs):
        if logs:
            self.add(state, logs)
            if time.monotonic() - self.last_flush >= self.flush_seconds:
                self.flush()

    def on_epoch_end(self, state, logs):
        self.add(state, logs, epoch=float(state.epoch))
        self.flush()

    def on_train_end(self, state, logs):
        self.add(state, logs, epoch=float(state.epoch))
        self.flush()

    def on_exception(self, state, error):
        self.flush()


class ProgressReporter(Callback):
    """Reports progress (0–1) and the seconds left, at most every every_seconds.

    With `after`, that share of the run was done before training started (features of a pretrained model),
    and training fills the rest of the bar.
    """

    def __init__(self, report, every_seconds: float = 1.0, after: float = 0.0):
        self.report = report
        self.every_seconds = every_seconds
        self.after = after
        self.last = 0.0
        self.start = time.monotonic()
        self.start_step = 0
        self.paced = False  # whether the pace is counted yet

    def on_train_start(self, state):
        self.paced = False  # the first report after the first step sets where the pace is counted from

    def _send(self, state: TrainState) -> None:
        if not self.paced:
            # The pace is counted from the end of the first step: that step also loads what the optimiser needs.
            self.start, self.start_step, self.paced = time.monotonic(), state.step, True
        done = state.step - self.start_step
        elapsed = time.monotonic() - self.start
        remaining = state.total_steps - state.step
        eta = elapsed / done * remaining if done > 0 else None
        self.report(self.after + (1 - self.after) * state.progress, eta)
        self.last = time.monotonic()

    def on_step_end(self, state, logs):
        if time.monotonic() - self.last >= self.every_seconds:
            self._send(state)

    def on_epoch_end(self, state, logs):
        self._send(state)


def improves(value: float | None, best: float | None, mode: str) -> bool:
    """Whether value is a finite figure better than best ('min': lower is better, 'max': higher); None never is."""
    if value is None or not math.isfinite(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


class EarlyStopping(Callback):
    """Stops training when the monitored validation metric has not improved for `patience` epochs.

    It keeps the best value and the epochs waited in the TrainState, so a resumed run remembers them.
    """

    def __init__(self, monitor: str, mode: str, patience: int):
        self.monitor, self.mode, self.patience = monitor, mode, patience

    def on_epoch_end(self, state, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        if improves(value, state.best_metric, self.mode):
            state.best_metric = value
            state.extra["epochs_without_improvement"] = 0
            return
        state.extra["epochs_without_improvement"] = state.extra.get("epochs_without_improvement", 0) + 1
        if state.extra["epochs_without_improvement"] >= self.patience:
            state.stop = True
            state.extra["stopped_early"] = True


class StopCheck(Callback):
    """Ends training when `should_stop()` gives a reason (a cancel request, a lost worker)."""

    def __init__(self, should_stop):
        self.should_stop = should_stop

    def on_step_end(self, state, logs):
        reason = self.should_stop()
        if reason:
            raise StopTraining(reason)


class Checkpointer(Callback):
    """Saves the checkpoint the loop hands over at the end of each epoch."""

    def __init__(self, save):
        self.save = save

    def on_checkpoint(self, state, checkpoint):
        self.save(checkpoint)
