"""Sweeps: a group of runs over a search space, steered by an Optuna study kept beside Trainyard's database.

Every trial is an ordinary run (queued, claimed by any worker, resumable, cancellable) that names its sweep and
its trial number. The study's memory lives in Optuna's own tables, apart from Trainyard's so that neither's
migrations touch the other's (see `study_storage`). `top_up` is the one place that tells the study how trials
ended and queues the next ones; the sweep's creator, every worker after a trial ends and every worker's
periodic check call it, one at a time per sweep (`sweep_lock`). No torch here: the dashboard imports it.

This module creates a sweep: its checks, its study and its first trials. The rest lives beside it: where the
studies live (`engine.search.study`), a trial's settings and run (`engine.search.trials`), keeping a sweep going
(`engine.search.running`) and what it found (`engine.search.results`).
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from typing import Any

from db import repo
from db.models import SweepStatus
from engine.errors import UserError
from engine.search.running import top_up
from engine.search.space import METRICS, check_space, default_direction, grid_size, grid_space
from engine.search.study import _quiet, storage
from engine.search.trials import preset_values, trial_config

METHODS = {"tpe": "TPE (learns from earlier trials)", "random": "Random", "grid": "Grid (every combination)"}
PRUNERS = {"median": "Stop a trial whose figure is worse than the middle of earlier trials' at the same epoch",
           "halving": "Successive halving: keep only the best share of trials at each stage",
           "none": "Never stop a trial early"}
MAX_TRIALS = 1000
MIN_BUDGET_SECONDS = 60


# ---------------------------------------------------------------- creating a sweep


def parse_budget(text: str | None) -> float | None:
    """Give back seconds from '90s', '10m', '1.5h' or a plain number of minutes; refuse less than a minute."""
    if text is None or str(text).strip() == "":
        return None
    raw = str(text).strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(raw[-1], None)
    try:
        seconds = float(raw[:-1] if unit else raw) * (unit or 60)
    except ValueError:
        raise UserError(f"'{text}' is not a length of time: write it as 90s, 10m or 1h.") from None
    if not math.isfinite(seconds) or seconds < MIN_BUDGET_SECONDS:
        raise UserError(f"A time budget of {text} is too short: give at least a minute, so that a trial or two "
                        "can finish.")
    return seconds


def _check_models(dataset: dict[str, Any], models: list[str]) -> list[str]:
    from engine.models.registry import MODELS, models_for_kind

    if not models:
        raise UserError("Choose at least one model for the sweep.")
    fitting = ", ".join(entry.name for entry in models_for_kind(dataset["kind"]))
    for name in models:
        if name not in MODELS:
            raise UserError(f"Unknown model '{name}'. Choose one of: {fitting}.")
        if dataset["kind"] not in MODELS[name].kinds:
            raise UserError(f"The model '{name}' does not fit {dataset['kind']} data. Choose one of: {fitting}.")
        if not MODELS[name].available:
            raise UserError(f"The model '{MODELS[name].title}' is not installed here: {MODELS[name].install_command}")
    return list(dict.fromkeys(models))


def create_sweep(dataset: dict[str, Any], models: list[str], space: dict[str, dict[str, Any]], *,
                 method: str = "tpe", metric: str | None = None, direction: str | None = None, trials: int = 20,
                 parallel: int = 1, preset: str | None = None, changes: dict[str, Any] | None = None,
                 name: str | None = None, pruner: str = "median", budget_seconds: float | None = None,
                 auto: bool = False) -> dict[str, Any]:
    """Check everything, create the study and the sweep, and queue its first trials; give back the sweep."""
    import optuna

    from engine.presets import preset_named, suggested_model

    models = _check_models(dataset, models)
    if method not in METHODS:
        raise UserError(f"There is no search method '{method}'. Choose one of: {', '.join(METHODS)}.")
    if pruner not in PRUNERS:
        raise UserError(f"There is no pruner '{pruner}'. Choose one of: {', '.join(PRUNERS)}.")
    allowed = METRICS[dataset["task"]]
    metric = metric or allowed[0]
    if metric not in allowed:
        raise UserError(f"A sweep on this data set can optimise {', '.join(allowed)}, not '{metric}' (sweeps watch "
                        "validation figures, so that the test rows stay unseen until the end).")
    direction = direction or default_direction(metric)
    if direction not in ("minimize", "maximize"):
        raise UserError(f"The direction must be minimize or maximize, not '{direction}'.")
    space = check_space(space, models, method) if space or not auto else {}
    if method == "grid":
        trials = min(trials or MAX_TRIALS, grid_size(space, models))
    if not 1 <= int(trials) <= MAX_TRIALS:
        raise UserError(f"The number of trials must be between 1 and {MAX_TRIALS}, not {trials}.")
    if not 1 <= int(parallel) <= 64:
        raise UserError(f"Trials at once must be between 1 and 64, not {parallel}.")
    if budget_seconds is not None and budget_seconds < MIN_BUDGET_SECONDS:
        raise UserError("A time budget must be at least a minute.")
    preset = preset_named(preset)
    changes = changes or {}
    for model in models:  # the fixed settings must suit every model before anything is created
        trial_config(dataset, {"preset": preset, "changes": changes}, model, {})
    study_name = f"trainyard-{uuid.uuid4().hex[:12]}"
    with _quiet():
        study = optuna.create_study(study_name=study_name, storage=storage(), direction=direction)
    if method == "grid":
        # Every combination waits in the study, in an order shuffled once, so that trials asked for at the same time
        # by several workers never pick the same one (Optuna's grid sampler can, with trials running at once).
        grid = grid_space(space, models)
        combinations = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        random.Random(len(combinations)).shuffle(combinations)
        for params in combinations[:trials]:
            study.enqueue_trial(params)
    elif auto:  # the first trial is the Balanced preset itself, what a run started with no settings gets
        first = suggested_model(dataset)
        first = first if first in models else models[0]
        study.enqueue_trial({"model": first} if len(models) > 1 else {}, user_attrs={"balanced": True})
    else:  # the first trial is the preset's own settings where the space holds them: the point to improve on
        study.enqueue_trial(preset_values(dataset, {"preset": preset, "changes": changes, "models": models}, models[0],
                                          space),
                            user_attrs={"preset": True})
    sweep = repo.create_sweep(
        name=(name or "").strip() or None, dataset_id=dataset["id"], study_name=study_name, models=models,
        space=space, changes=changes, preset=preset, method=method, pruner=pruner, metric=metric,
        direction=direction, trials=int(trials), parallel=int(parallel), budget_seconds=budget_seconds, auto=auto,
        status=SweepStatus.RUNNING)
    top_up(sweep["id"])
    return repo.get_sweep(sweep["id"])


def create_auto(dataset: dict[str, Any], budget_seconds: float, parallel: int | None = None,
                name: str | None = None, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Auto: a sweep over the kind's quick-to-train models and their key settings, its first trial the Balanced
    preset of the suggested model, ending at the time budget; changes (a split's seed) hold for every trial."""
    from engine.presets import auto_space

    if budget_seconds is None or budget_seconds < MIN_BUDGET_SECONDS:
        raise UserError("Auto needs a time budget of at least a minute.")
    models, space = auto_space(dataset)
    if parallel is None:
        parallel = max(1, sum(worker["slots"] for worker in repo.alive_workers()))
    return create_sweep(dataset, models, space, method="tpe", metric=METRICS[dataset["task"]][0],
                        trials=MAX_TRIALS, parallel=parallel, preset="Balanced", name=name or "Auto", changes=changes,
                        pruner="median", budget_seconds=budget_seconds, auto=True)
