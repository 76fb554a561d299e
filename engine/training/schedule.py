"""The learning-rate schedule rule, in plain Python: the training loop steps by it and the New run page draws it."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping


def one_cycle(progress: float) -> float:
    """Rise from 1/25 of the learning rate to all of it over the first 30% of steps, then fall to zero (cosine)."""
    if progress < 0.3:
        return 1 / 25 + (1 - 1 / 25) * progress / 0.3
    return 0.5 * (1 + math.cos(math.pi * (progress - 0.3) / 0.7))


# Each schedule gives the share of the full learning rate from (progress through training 0–1, epochs done, settings).
SCHEDULES: dict[str, Callable[[float, float, Mapping[str, Any]], float]] = {
    "constant": lambda progress, epoch, t: 1.0,
    "step": lambda progress, epoch, t: t.get("step_factor", 0.1) ** int(epoch // t.get("step_every_epochs", 10)),
    "cosine": lambda progress, epoch, t: 0.5 * (1 + math.cos(math.pi * progress)),
    "one_cycle": lambda progress, epoch, t: one_cycle(progress),
}


def schedule_share(step: int, total_steps: int, steps_per_epoch: int, training: Mapping[str, Any]) -> float:
    """Give back the share of the full learning rate at a step: the chosen schedule times the warm-up ramp."""
    warmup_steps = training.get("warmup_epochs", 0.0) * steps_per_epoch
    ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    rule = SCHEDULES[training.get("lr_schedule", "constant")]
    return ramp * rule(step / max(1, total_steps), step / max(1, steps_per_epoch), training)


def schedule_curve(training: Mapping[str, Any], steps_per_epoch: int,
                   points: int = 200) -> tuple[list[float], list[float]]:
    """Give back (epochs, learning rates) at up to `points` evenly spaced steps of a whole run."""
    steps_per_epoch = max(1, steps_per_epoch)
    total = max(1, training["epochs"] * steps_per_epoch)
    steps = sorted({round(i * (total - 1) / max(1, points - 1)) for i in range(points)})
    rate = training["learning_rate"]
    return ([s / steps_per_epoch for s in steps],
            [rate * schedule_share(s, total, steps_per_epoch, training) for s in steps])
