"""What the explorer's modules share: which metric keys are results and in what order, clean tags."""

from __future__ import annotations

from collections.abc import Iterable

RESULT_PREFIXES = ("train_", "val_", "test_")
FIRST_KEYS = ("test_accuracy", "reference_accuracy", "val_accuracy", "test_f1_macro", "test_rmse", "reference_rmse",
              "val_rmse", "val_loss", "train_loss", "test_mae", "val_mae", "train_accuracy")


def is_result(key: str) -> bool:
    """Give back True for a result of training (a training, validation or test loss or score), False for a
    setting or a system figure logged along (learning rate, memory, CPU use, speed)."""
    return key.startswith(RESULT_PREFIXES) and not key.endswith(("seconds", "per_second"))


def metric_order(keys: Iterable[str]) -> list[str]:
    """Give back metric keys with the usual results first, then the rest alphabetically."""
    keys = set(keys)
    return [k for k in FIRST_KEYS if k in keys] + sorted(keys - set(FIRST_KEYS))


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    """Give back tags trimmed, without empties or repeats, at most 20 of at most 50 characters."""
    if isinstance(tags, str):
        tags = tags.split(",")
    seen: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())[:50]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:20]


def _like(text_: str) -> str:
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
