"""A sweep's search space: which settings vary, over what, checked against the settings schema before any run.

A space maps a setting's dotted key, as `train --set` names it (`training.learning_rate`, `model.dropout`), to a
range `{"low": 1e-4, "high": 0.1, "log": true}` or a list `{"choices": ["adam", "sgd"]}`. On the command line a
range is `KEY=LOW:HIGH[:log]` and a list `KEY=A,B,C`. Plain Python with pydantic: the dashboard imports it.
"""

from __future__ import annotations

import json
import math
import types
import typing
from typing import Any, Literal

from engine.config import TrainingConfig
from engine.errors import UserError
from engine.models.registry import MODELS
from engine.words import plain_number

# Settings a sweep may not vary: where and how a run trains, not how well.
FIXED = {"training.device", "training.init_from", "training.log_every", "training.compile",
         "training.mixed_precision", "model.name"}
MAX_GRID_POINTS = 1000
GRID_STEPS = 5  # a range in a grid sweep is tried at this many evenly spread points (evenly on a log scale for log)
# The figures a sweep can optimise: the validation ones, so the test rows stay unseen until the end.
METRICS = {"classification": ("val_accuracy", "val_loss"), "regression": ("val_rmse", "val_mae", "val_loss"),
           "rating": ("val_rmse", "val_mae", "val_loss")}
METRIC_WORDS = {"val_accuracy": "validation accuracy", "val_loss": "validation loss",
                "val_rmse": "validation error (RMSE)", "val_mae": "validation error (MAE)"}


def metric_figure(metric: str, value: float) -> str:
    """A sweep's figure as a person reads it: an accuracy in percent, an error or loss as a plain number."""
    return f"{value:.1%}" if metric.endswith("accuracy") else plain_number(value, 4)


def default_direction(metric: str) -> str:
    return "maximize" if metric.endswith("accuracy") else "minimize"


def _fields(key: str, model: str) -> Any:
    """Give back the pydantic field behind a dotted setting key for model, or None when it has none."""
    section, _, name = key.partition(".")
    if section == "training":
        return TrainingConfig.model_fields.get(name)
    if section == "model":
        return MODELS[model].config.model_fields.get(name)
    return None


def _base_type(annotation: Any) -> Any:
    """int, float, bool, list, or a Literal's choices (a tuple) for a field's annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return typing.get_origin(annotation) or annotation


def setting_title(key: str, models: list[str]) -> str:
    """A searched setting's plain title; "model" is the choice of model itself when a sweep tries several."""
    if key == "model":
        return "Model"
    for model in models:
        field = _fields(key, model)
        if field is not None and field.title:
            return field.title
    return key


def parse_param(text: str) -> tuple[str, dict[str, Any]]:
    """Give back (key, range or list) from `KEY=LOW:HIGH[:log]` or `KEY=A,B,C`."""
    if "=" not in text:
        raise UserError(f"'--param {text}' needs the form KEY=LOW:HIGH[:log] for a range or KEY=A,B,C for a list, "
                        "for example --param training.learning_rate=0.0001:0.1:log.")
    key, value = (part.strip() for part in text.split("=", 1))
    parts = _split_top(value, ",")
    if len(parts) == 1 and ":" in value and not value.startswith("["):
        bounds = value.split(":")
        log = len(bounds) == 3 and bounds[2].strip().lower() == "log"
        if len(bounds) not in (2, 3) or (len(bounds) == 3 and not log):
            raise UserError(f"'{key}={value}': a range is LOW:HIGH, or LOW:HIGH:log for a range searched on a "
                            "log scale.")
        try:
            low, high = (json.loads(b.strip()) for b in bounds[:2])
        except json.JSONDecodeError:
            raise UserError(f"'{key}={value}': the ends of a range must be numbers.") from None
        return key, {"low": low, "high": high, "log": log}
    return key, {"choices": [_value(part) for part in parts]}


def _split_top(text: str, separator: str) -> list[str]:
    """Split text at separators outside brackets, so `[64],[128,64]` is two lists."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "[") - (char == "]")
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [part.strip() for part in parts + [current] if part.strip()]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def check_space(space: dict[str, dict[str, Any]], models: list[str], method: str) -> dict[str, dict[str, Any]]:
    """Give back the space with each range's numbers typed as its setting's, or raise UserError naming the
    setting that is wrong: unknown to every chosen model, fixed, an empty or inverted range, a log range reaching
    0, a range over a choice, a value out of the setting's bounds."""
    from engine.config import set_dotted, validate_run_config

    if not space:
        raise UserError("Choose at least one setting to search, for example --param training.learning_rate="
                        "0.0001:0.1:log.")
    checked: dict[str, dict[str, Any]] = {}
    for key, spec in space.items():
        if key in FIXED:
            raise UserError(f"'{key}' cannot vary in a sweep: it decides where a run trains, not how well.")
        having = [model for model in models if _fields(key, model) is not None]
        if not having:
            names = ", ".join(MODELS[m].title for m in models)
            raise UserError(f"'{key}' is not a setting of {names}. Settings are named training.NAME or model.NAME, "
                            "as the New run page's advanced settings list them.")
        if len(models) > 1 and method == "grid" and len(having) < len(models):
            raise UserError(f"'{key}' is a setting of some of the chosen models only; a grid sweep needs settings "
                            "all of them have. Use the TPE or random method.")
        kind = _base_type(_fields(key, having[0]).annotation)
        if not isinstance(spec, dict) or not (("choices" in spec) ^ ("low" in spec and "high" in spec)):
            raise UserError(f"'{key}': give either a range (low and high) or a list of choices.")
        if "choices" in spec:
            choices = list(spec["choices"])
            if not choices:
                raise UserError(f"'{key}': the list of choices is empty.")
            if len({json.dumps(c, sort_keys=True) for c in choices}) < len(choices):
                raise UserError(f"'{key}': a choice appears twice in the list.")
            entry: dict[str, Any] = {"choices": choices}
            values = choices
        else:
            if isinstance(kind, tuple) or kind in (bool, list, str):
                raise UserError(f"'{key}' takes one of a few values, not a range: give a list of them.")
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       for v in (low, high)):
                raise UserError(f"'{key}': the ends of a range must be numbers.")
            if low == high:
                raise UserError(f"'{key}': the range {low}:{high} is empty; give a low end below the high end, or "
                                "fix the setting for every trial instead.")
            if low > high:
                raise UserError(f"'{key}': the range {low}:{high} is inverted; the low end must come first.")
            if log and low <= 0:
                raise UserError(f"'{key}': a log range cannot reach 0 or below ({low}:{high}); start it above 0, "
                                "for example at 0.0001.")
            if kind is int and (low != int(low) or high != int(high)):
                raise UserError(f"'{key}' is a whole number: give whole ends, for example 2:10.")
            number = int if kind is int else float
            entry = {"low": number(low), "high": number(high), "log": log}
            values = [entry["low"], entry["high"]]
        for model in having:  # every value within the setting's own bounds, as a run would check it
            for value in values:
                raw: dict[str, Any] = {"model": {"name": model}}
                set_dotted(raw, key, value)
                try:
                    validate_run_config(raw)
                except UserError as error:
                    reason = str(error).split(" — ", 1)[-1].removeprefix(f"{key}: ")
                    raise UserError(f"'{key}' cannot be {json.dumps(value)}: {reason}") from None
        checked[key] = entry
    if method == "grid":
        points = math.prod(len(grid_values(spec)) for spec in checked.values()) * len(models)
        if points > MAX_GRID_POINTS:
            raise UserError(f"This grid has {points:,} combinations, more than the {MAX_GRID_POINTS:,} a sweep can "
                            "try. Use fewer values per setting, or the TPE or random method.")
    return checked


def grid_values(spec: dict[str, Any]) -> list[Any]:
    """Give back the values a grid sweep tries for one setting: its list, or GRID_STEPS points of its range."""
    if "choices" in spec:
        return list(spec["choices"])
    low, high, log = spec["low"], spec["high"], spec["log"]
    points = [math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (GRID_STEPS - 1)) if log
              else low + (high - low) * i / (GRID_STEPS - 1) for i in range(GRID_STEPS)]
    if isinstance(low, int):
        return sorted({int(round(p)) for p in points})
    return [float(f"{p:.4g}") for p in points]


def grid_size(space: dict[str, dict[str, Any]], models: list[str]) -> int:
    return math.prod(len(grid_values(spec)) for spec in space.values()) * len(models)


def encode(value: Any) -> Any:
    """A choice as Optuna stores it: numbers, text and yes/no as they are, lists as JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def decode(value: Any, spec: dict[str, Any]) -> Any:
    if "choices" in spec and isinstance(value, str):
        for choice in spec["choices"]:
            if encode(choice) == value:
                return choice
    return value


def grid_space(space: dict[str, dict[str, Any]], models: list[str]) -> dict[str, list[Any]]:
    """The grid as Optuna's GridSampler takes it: every setting's values, and the model's name when several."""
    grid = {key: [encode(v) for v in grid_values(spec)] for key, spec in space.items()}
    if len(models) > 1:
        grid["model"] = list(models)
    return grid


def suggest(trial, space: dict[str, dict[str, Any]], models: list[str]) -> tuple[str, dict[str, Any]]:
    """Ask an Optuna trial for its model and settings; give back (model, {dotted key: value})."""
    model = trial.suggest_categorical("model", models) if len(models) > 1 else models[0]
    chosen: dict[str, Any] = {}
    for key, spec in space.items():
        if _fields(key, model) is None:
            continue  # a setting of another of the sweep's models
        if "choices" in spec:
            chosen[key] = decode(trial.suggest_categorical(key, [encode(c) for c in spec["choices"]]), spec)
        elif isinstance(spec["low"], int):
            chosen[key] = trial.suggest_int(key, spec["low"], spec["high"], log=spec["log"])
        else:
            chosen[key] = trial.suggest_float(key, spec["low"], spec["high"], log=spec["log"])
    return model, chosen


def describe(space: dict[str, dict[str, Any]], models: list[str]) -> list[str]:
    """One plain line per setting: 'Learning rate: 0.0001 to 0.1 (log scale)'."""
    lines = []
    for key, spec in space.items():
        title = setting_title(key, models)
        if "choices" in spec:
            shown = ", ".join(c if isinstance(c, str) else json.dumps(c) for c in spec["choices"])
            lines.append(f"{title}: one of {shown}")
        else:
            lines.append(f"{title}: {spec['low']:g} to {spec['high']:g}" + (" (log scale)" if spec["log"] else ""))
    return lines

