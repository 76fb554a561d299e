"""Sweeps: a group of runs over a search space, steered by an Optuna study kept beside Trainyard's database.

Every trial is an ordinary run (queued, claimed by any worker, resumable, cancellable) that names its sweep and
its trial number. The study's memory lives in Optuna's own tables, apart from Trainyard's so that neither's
migrations touch the other's (see `study_storage`). `top_up` is the one place that tells the study how trials
ended and queues the next ones; the sweep's creator, every worker after a trial ends and every worker's
periodic check call it, one at a time per sweep (`sweep_lock`). No torch here: the dashboard imports it.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import math
import os
import random
import time
import uuid
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from db import repo
from db.models import RunStatus, SweepStatus, utcnow
from db.session import database_url, get_engine, trainyard_home
from engine.errors import UserError
from engine.presets import VALIDATION_SHARE
from engine.search.space import (
    METRIC_WORDS,
    METRICS,
    check_space,
    default_direction,
    describe,
    grid_size,
    grid_space,
    setting_title,
    suggest,
)

METHODS = {"tpe": "TPE (learns from earlier trials)", "random": "Random", "grid": "Grid (every combination)"}
PRUNERS = {"median": "Stop a trial whose figure is worse than the middle of earlier trials' at the same epoch",
           "halving": "Successive halving: keep only the best share of trials at each stage",
           "none": "Never stop a trial early"}
# trials that still train or will (an interrupted one resumes)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED)
MAX_TRIALS = 1000
MIN_BUDGET_SECONDS = 60
OPTUNA_SCHEMA = "optuna"  # PostgreSQL: Optuna's tables live in this schema of Trainyard's database
LOCK_KEY = 727275  # PostgreSQL advisory locks: (LOCK_KEY, sweep id); the migration lock is 727274


# ---------------------------------------------------------------- where the studies live


def study_storage_url() -> tuple[str, dict[str, Any]]:
    """Give back the URL and engine options of Optuna's storage, derived from Trainyard's database URL.

    Optuna keeps its own Alembic version table, which would clash with Trainyard's `alembic_version`: on PostgreSQL
    its tables go to the schema `optuna` of the same database; with SQLite to a second file beside the first
    (`trainyard-sweeps.db`), which also keeps the two from waiting on one file's write lock.
    """
    url = database_url()
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        return f"sqlite:///{path.with_name(path.stem + '-sweeps.db')}", {"connect_args": {"timeout": 30}}
    if url.startswith("postgresql"):
        with get_engine().begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}")
        return url, {"connect_args": {"options": f"-csearch_path={OPTUNA_SCHEMA}"}, "pool_pre_ping": True}
    return url, {}


@lru_cache(maxsize=4)
def _storage(url: str, pid: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_url, options = study_storage_url()
    return optuna.storages.RDBStorage(study_url, engine_kwargs=options)


def storage():
    return _storage(database_url(), os.getpid())


@contextlib.contextmanager
def sweep_lock(sweep_id: int) -> Iterator[None]:
    """Let one process at a time tell a sweep's study about ended trials and queue new ones."""
    url = database_url()
    if url.startswith("postgresql"):
        with get_engine().connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({LOCK_KEY}, {int(sweep_id)})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_KEY}, {int(sweep_id)})")
                connection.commit()
    else:
        with open(trainyard_home() / f".sweep-{int(sweep_id)}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna marks some of what sweeps use (the constant liar) experimental; users need not read that."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _sampler(sweep: dict[str, Any], trials_so_far: int):
    import optuna

    # A new seed for each call: the sampler is made afresh each time a trial is asked for, and one seed would give
    # every trial the same first guess.
    seed = (sweep["id"] * 100_003 + trials_so_far) % 2**31
    if sweep["method"] in ("random", "grid"):  # a grid's trials are all queued in the study when it is made
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, sweep["trials"] // 4)),
                                      constant_liar=sweep["parallel"] > 1)


def _pruner(sweep: dict[str, Any], epochs: int):
    """The sweep's pruner. No trial is judged in its first quarter of epochs, where curves of good settings can still
    lag (hpc_jobs, 12 trials: judged from epoch 3 on, 6 of the first 10 trials stopped, one as good as the best)."""
    import optuna

    if sweep["pruner"] == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(2, min(5, sweep["trials"] // 4)),
                                           n_warmup_steps=max(2, epochs // 4))
    if sweep["pruner"] == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def load_study(sweep: dict[str, Any], trials_so_far: int = 0, epochs: int = 8):
    """Give back the sweep's study with its sampler (seeded for the trials_so_far-th ask) and its pruner (for trials
    of this many epochs)."""
    import optuna

    with _quiet():
        return optuna.load_study(study_name=sweep["study_name"], storage=storage(),
                                 sampler=_sampler(sweep, trials_so_far), pruner=_pruner(sweep, epochs))


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


def trial_config(dataset: dict[str, Any], sweep: dict[str, Any], model: str, params: dict[str, Any]) -> dict[str, Any]:
    """Give back a trial's validated settings: the sweep's preset for its model, the fixed changes, the trial's
    own values on top."""
    from engine.config import set_dotted, validate_run_config
    from engine.presets import merged, starting_config

    changes: dict[str, Any] = {}
    for key, value in params.items():
        set_dotted(changes, key, value)
    raw = starting_config(dataset, model, sweep["preset"], merged(sweep.get("changes") or {}, changes))
    return validate_run_config(raw).model_dump()


def preset_values(dataset: dict[str, Any], sweep: dict[str, Any], model: str,
                  space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Give back the preset's own value of each searched setting of model that lies inside its range or list,
    as the study stores it."""
    from engine.search.space import encode

    config = trial_config(dataset, sweep, model, {})
    values: dict[str, Any] = {"model": model} if len(sweep.get("models") or [model]) > 1 else {}
    for key, spec in space.items():
        section, _, name = key.partition(".")
        value = config.get(section, {}).get(name)
        inside = value in spec["choices"] if "choices" in spec else (
            isinstance(value, (int, float)) and spec["low"] <= value <= spec["high"])
        if inside:
            values[key] = encode(value)
    return values


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


# ---------------------------------------------------------------- keeping a sweep going


def run_value(run: dict[str, Any], metric: str, direction: str) -> float | None:
    """Give back the figure a trial is judged by: its best epoch's when it kept the best epoch, else its last."""
    summary = (run.get("metrics") or {}).get(metric)
    if not summary:
        return None
    if run["status"] == RunStatus.COMPLETED and (run.get("config") or {}).get("training", {}).get("keep_best"):
        return summary["min"] if direction == "minimize" else summary["max"]
    return summary["last"]


def _tell(study, run: dict[str, Any], sweep: dict[str, Any]) -> None:
    from optuna.trial import TrialState

    value = run_value(run, sweep["metric"], sweep["direction"])
    if run["status"] == RunStatus.COMPLETED and value is not None:
        study.tell(run["trial_number"], value)
    elif run["status"] == RunStatus.PRUNED:
        study.tell(run["trial_number"], state=TrialState.PRUNED)
    else:
        study.tell(run["trial_number"], state=TrialState.FAIL)


def top_up(sweep_id: int) -> dict[str, Any] | None:
    """Tell the study how ended trials went, queue new trials up to the sweep's number at once, and close the
    sweep when it is done, cancelled or out of time; give back the sweep, or None when it had already ended."""
    from optuna.trial import TrialState

    with sweep_lock(sweep_id):
        sweep = repo.get_sweep(sweep_id)
        if sweep is None or sweep["status"] != SweepStatus.RUNNING:
            return None
        runs = repo.sweep_runs(sweep_id)
        by_number = {run["trial_number"]: run for run in runs}
        study = load_study(sweep)
        trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
        for trial in trials:
            if trial.state != TrialState.RUNNING:
                continue
            run = by_number.get(trial.number)
            if run is None:  # asked for, but its run was never made (the process stopped in between)
                study.tell(trial.number, state=TrialState.FAIL)
            elif run["status"] not in ACTIVE:
                _tell(study, run, sweep)
        active = [run for run in runs if run["status"] in ACTIVE]
        out_of_time = sweep["budget_seconds"] is not None and elapsed_seconds(sweep) >= sweep["budget_seconds"]
        if sweep["cancel_requested"] or out_of_time:
            for run in active:
                if run["status"] != RunStatus.RUNNING or out_of_time:
                    if repo.request_cancel(run["id"], by_person=False) == "requested" and out_of_time:
                        repo.add_event(run["id"], "Stopped: the sweep's time budget ran out", kind="status")
            active = [run for run in active if run["status"] == RunStatus.RUNNING]
        else:
            created = len(trials)
            dataset = repo.get_dataset(sweep["dataset_id"])
            while len(active) < sweep["parallel"] and created < sweep["trials"]:
                run = _new_trial(load_study(sweep, created), sweep, dataset)
                created += 1
                if run is not None:
                    active.append(run)
        if not active:
            status = SweepStatus.CANCELLED if sweep["cancel_requested"] else SweepStatus.COMPLETED
            repo.finish_sweep(sweep_id, status, outcome(sweep_id))
        return repo.get_sweep(sweep_id)


def _new_trial(study, sweep: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the study for a trial and queue its run; a trial whose settings do not fit together fails at once."""
    from optuna.trial import TrialState

    with _quiet():
        trial = study.ask()
    try:
        if trial.user_attrs.get("balanced"):  # Auto's first trial: the preset as it is
            model = trial.suggest_categorical("model", sweep["models"]) if len(sweep["models"]) > 1 else \
                sweep["models"][0]
            params: dict[str, Any] = {}
        else:
            model, params = suggest(trial, sweep["space"], sweep["models"])
        config = trial_config(dataset, sweep, model, params)
    except UserError as error:
        trial.set_user_attr("error", str(error))
        study.tell(trial, state=TrialState.FAIL)
        return None
    label = sweep["name"] or f"Sweep {sweep['id']}"
    run = repo.create_run(dataset["id"], model, config, name=f"{label} · trial {trial.number + 1}",
                          sweep_id=sweep["id"], trial_number=trial.number)
    trial.set_user_attr("run_id", run["id"])
    return run


def keep_going(sweep_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Top up the sweeps given, or every running one (a worker's periodic check); give back those it closed."""
    if sweep_ids is None:
        sweep_ids = [sweep["id"] for sweep in repo.list_sweeps(statuses=[SweepStatus.RUNNING])]
    closed = []
    for sweep_id in sweep_ids:
        after = top_up(sweep_id)
        if after is not None and after["status"] != SweepStatus.RUNNING:
            closed.append(after)
    return closed


def cancel_sweep(sweep_id: int, stop_running: bool = False) -> str:
    """Cancel a sweep's waiting trials, and its running ones too with stop_running; give back a sentence."""
    sweep = repo.get_sweep(sweep_id)
    if sweep is None:
        raise UserError(f"There is no sweep {sweep_id}. `python -m engine sweep list` shows them.")
    if sweep["status"] != SweepStatus.RUNNING:
        return f"Sweep {sweep_id} had already ended ({sweep['status']})."
    repo.request_sweep_cancel(sweep_id)
    stopping = 0
    for run in repo.sweep_runs(sweep_id):
        waiting = run["status"] in (RunStatus.QUEUED, RunStatus.INTERRUPTED)
        if waiting or (stop_running and run["status"] == RunStatus.RUNNING):
            stopping += repo.request_cancel(run["id"], by_person=False) == "requested"
    after = top_up(sweep_id) or repo.get_sweep(sweep_id)
    if after["status"] != SweepStatus.RUNNING:
        return f"Sweep {sweep_id} cancelled."
    if stopping:
        return f"Sweep {sweep_id} is stopping: its waiting trials are cancelled and {stopping} running one(s) stop " \
               "within seconds."
    return f"Sweep {sweep_id} cancelled: no new trials start; the ones training now finish first."


# ---------------------------------------------------------------- what a sweep found


def elapsed_seconds(sweep: dict[str, Any]) -> float:
    end = sweep.get("finished_at") or utcnow()
    return max(0.0, (end - sweep["created_at"]).total_seconds())


def _trial_params(sweep: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Give back {trial number: {setting: value}} as the study chose them (lists decoded)."""
    from engine.search.space import decode

    try:
        study = load_study(sweep)
    except KeyError:
        return {}
    found = {}
    for trial in study.get_trials(deepcopy=False):
        found[trial.number] = {key: decode(value, sweep["space"].get(key, {})) for key, value in trial.params.items()}
    return found


def importance(sweep: dict[str, Any]) -> dict[str, float]:
    """Give back each setting's share of the differences between finished trials (Optuna's fANOVA), largest first;
    empty until three trials have finished with a figure. Worked out again only when another trial has finished."""
    import optuna

    try:
        study = load_study(sweep)
    except KeyError:  # the study's file was removed: the trials themselves are still runs
        return {}
    finished = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
                and not t.user_attrs.get("balanced")]  # Auto's Balanced trial chose no settings of its own
    return dict(_importance(sweep["study_name"], tuple(t.number for t in finished)))


@lru_cache(maxsize=64)
def _importance(study_name: str, finished: tuple[int, ...]) -> tuple[tuple[str, float], ...]:
    import optuna

    if len(finished) < 3:
        return ()
    study = optuna.load_study(study_name=study_name, storage=storage())
    trials = [t for t in study.get_trials(deepcopy=False) if t.number in set(finished)]
    common = set.intersection(*(set(t.params) for t in trials))
    if not common:
        return ()
    try:
        with _quiet():
            shares = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=sorted(common))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return ()
    return tuple((key, round(float(value), 4)) for key, value in shares.items())


def best_trial(sweep: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    done = [t for t in trials if t["status"] == RunStatus.COMPLETED and t["value"] is not None]
    if not done:
        return None
    if sweep["direction"] == "minimize":
        return min(done, key=lambda t: (t["value"], t["number"]))
    return max(done, key=lambda t: (t["value"], -t["number"]))  # a tie goes to the earlier trial


def validation_noise(sweep: dict[str, Any], value: float) -> float:
    """Give back how far apart two trials' validation figures can be by the luck of which rows were drawn: one
    standard error of the figure on the sweep's validation rows (binomial for an accuracy; RMSE / sqrt(2n) for an
    error)."""
    dataset = repo.get_dataset(sweep["dataset_id"]) or {}
    fraction = ((sweep.get("changes") or {}).get("split") or {}).get("validation_fraction", VALIDATION_SHARE)
    rows = max(1, round(int(dataset.get("n_rows") or 1) * fraction))
    if sweep["metric"].endswith("accuracy"):
        return math.sqrt(max(value * (1 - value), 1e-6) / rows)
    return abs(value) / math.sqrt(2 * rows)


def recommended_trial(sweep: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Give back the trial a sweep recommends: its best one; for Auto, its Balanced trial unless the best one is
    ahead of it on the validation rows by more than their luck of the draw (validation_noise), so that Auto never
    swaps the Balanced model for one that only looked better on a few rows."""
    best = best_trial(sweep, trials)
    balanced = next((t for t in trials if sweep["auto"] and t["number"] == 0 and t["status"] == RunStatus.COMPLETED
                     and t["value"] is not None), None)
    if best is None or balanced is None or best is balanced:
        return best
    ahead = best["value"] - balanced["value"] if sweep["direction"] == "maximize" else balanced["value"] - best["value"]
    return best if ahead > validation_noise(sweep, balanced["value"]) else balanced


def trials_of(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    params = _trial_params(sweep)
    trials = []
    for run in repo.sweep_runs(sweep["id"]):
        test = {k: s["last"] for k, s in run["metrics"].items() if k in ("test_accuracy", "test_rmse", "test_mae",
                                                                          "test_f1_macro")}
        trials.append({
            "number": run["trial_number"], "run_id": run["id"], "status": run["status"], "model": run["model"],
            "value": run_value(run, sweep["metric"], sweep["direction"]), "params": params.get(run["trial_number"], {}),
            "epochs": run["metrics"].get("val_loss", {}).get("count"),  # one validation point per epoch
            "seconds": _run_seconds(run), "test": test,
        })
    return trials


def _run_seconds(run: dict[str, Any]) -> float | None:
    if run.get("started_at") is None:
        return None
    end = run.get("finished_at") or utcnow()
    return max(0.0, (end - run["started_at"]).total_seconds())


def seconds_left(sweep: dict[str, Any], trials: list[dict[str, Any]]) -> float | None:
    """Estimate the time until the sweep ends: its budget's rest, or the mean trial time over the trials to go."""
    if sweep["status"] != SweepStatus.RUNNING:
        return 0.0
    if sweep["budget_seconds"] is not None:
        return max(0.0, sweep["budget_seconds"] - elapsed_seconds(sweep))
    ended = [t["seconds"] for t in trials if t["status"] not in ACTIVE and t["seconds"]]
    if not ended:
        return None
    to_go = sweep["trials"] - len([t for t in trials if t["status"] not in ACTIVE])
    return sum(ended) / len(ended) * math.ceil(to_go / sweep["parallel"])


def sweep_document(sweep_id: int) -> dict[str, Any]:
    """Everything the sweep page and `sweep show --json` give: settings, trials, the best one, importance."""
    sweep = repo.get_sweep(sweep_id)
    if sweep is None:
        raise UserError(f"There is no sweep {sweep_id}. `python -m engine sweep list` shows them.")
    trials = trials_of(sweep)
    best = best_trial(sweep, trials)
    chosen = recommended_trial(sweep, trials)
    counts = {status.value: sum(t["status"] == status for t in trials) for status in RunStatus}
    return {
        "id": sweep["id"], "name": sweep["name"], "status": sweep["status"], "dataset": sweep["dataset"],
        "dataset_id": sweep["dataset_id"], "models": sweep["models"], "space": sweep["space"],
        "space_words": describe(sweep["space"], sweep["models"]), "changes": sweep["changes"],
        "preset": sweep["preset"], "method": sweep["method"], "pruner": sweep["pruner"], "metric": sweep["metric"],
        "direction": sweep["direction"], "trials_planned": sweep["trials"], "parallel": sweep["parallel"],
        "budget_seconds": sweep["budget_seconds"], "auto": sweep["auto"], "created_at": sweep["created_at"],
        "finished_at": sweep["finished_at"], "elapsed_seconds": round(elapsed_seconds(sweep), 1),
        "seconds_left": seconds_left(sweep, trials), "counts": counts, "trials": trials,
        "best": None if best is None else {k: best[k] for k in ("run_id", "number", "model", "value", "params",
                                                                  "test")},
        "recommended": None if chosen is None else {k: chosen[k] for k in ("run_id", "number", "model", "value",
                                                                           "params", "test")},
        "importance": importance(sweep), "outcome": sweep["outcome"],
    }


def _test_figure(trial: dict[str, Any]) -> tuple[str, float] | None:
    for key in ("test_accuracy", "test_rmse"):
        if key in trial["test"]:
            return key, trial["test"][key]
    return None


def _plain_params(params: dict[str, Any], models: list[str]) -> str:
    words = []
    for key, value in params.items():
        if key == "model":
            continue
        shown = f"{value:.3g}" if isinstance(value, float) else json.dumps(value) if isinstance(value, list) else value
        words.append(f"{setting_title(key, models).lower()} {shown}")
    return ", ".join(words)


def _shown(sweep: dict[str, Any], value: float) -> str:
    """A sweep's figure as the sentence says it: an accuracy as a percentage, an error or loss as a number."""
    return f"{value:.1%}" if sweep["metric"].endswith("accuracy") else f"{value:.4g}"


def outcome(sweep_id: int) -> str:
    """The closing sentence of a sweep: its best run in plain words and, for Auto, how it compares with Balanced."""
    from engine.models.registry import MODELS

    sweep = repo.get_sweep(sweep_id)
    trials = trials_of(sweep)
    best = best_trial(sweep, trials)
    if best is None:
        return "No trial finished with a result, so the sweep found no settings to recommend."
    settings = _plain_params(best["params"], sweep["models"])
    words = METRIC_WORDS.get(sweep["metric"], sweep["metric"])
    text = (f"The best trial is run {best['run_id']}, {MODELS[best['model']].title}"
            f"{' with ' + settings if settings else ''}: {words} {_shown(sweep, best['value'])}.")
    balanced = next((t for t in trials if t["number"] == 0 and sweep["auto"]), None)
    if balanced is None:
        return text
    if balanced is best:
        return text + " That is the Balanced preset's own run: none of the other settings tried did better."
    if recommended_trial(sweep, trials) is balanced:
        return text + (f" The Balanced preset's run {balanced['run_id']} reached {_shown(sweep, balanced['value'])}: a "
                       "difference within the luck of which rows were kept for validation, so Auto recommends the "
                       f"Balanced run {balanced['run_id']}.")
    ours, theirs = _test_figure(best), _test_figure(balanced) if balanced["status"] == RunStatus.COMPLETED else None
    if ours is None or theirs is None or ours[0] != theirs[0]:
        return text
    key, a, b = ours[0], ours[1], theirs[1]
    if key == "test_accuracy":
        gain = (a - b) * 100
        said = (f" On the test rows it is right {a:.1%} of the time against {b:.1%} for the Balanced preset "
                f"(run {balanced['run_id']})")
        return text + said + (f": {gain:.1f} points better." if gain >= 0.5 else
                              f": Balanced did better on the rows neither had seen; keep run {balanced['run_id']}."
                              if gain <= -0.5 else ": about the same; either run will do.")
    gain = (b - a) / b * 100 if b else 0.0
    said = f" On the test rows its error is {a:.4g} against {b:.4g} for the Balanced preset (run {balanced['run_id']})"
    return text + said + (f": {gain:.1f} % smaller." if gain >= 1 else
                          f": Balanced did better on the rows neither had seen; keep run {balanced['run_id']}."
                          if gain <= -1 else ": about the same; either run will do.")


# ---------------------------------------------------------------- pruning, inside a trial's run


def pruning_callback(run: dict[str, Any]):
    """Give back the callback that reports a trial's validation figure after each epoch and stops the run when the
    sweep's pruner says so, or None for a run outside a sweep."""
    if run.get("sweep_id") is None or run.get("trial_number") is None:
        return None
    sweep = repo.get_sweep(run["sweep_id"])
    if sweep is None or sweep["pruner"] == "none":
        return None
    from engine.training.callbacks import Callback, StopTraining

    study = load_study(sweep, epochs=run["config"]["training"]["epochs"])
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, run["trial_number"])

    import optuna

    trial = optuna.trial.Trial(study, trial_id)

    class PruneBySweep(Callback):
        def on_epoch_end(self, state, logs):
            value = logs.get(sweep["metric"])
            if value is None or not math.isfinite(value):
                return
            if study._storage.get_trial(trial_id).state != optuna.trial.TrialState.RUNNING:
                return
            with _quiet():
                trial.report(float(value), state.epoch)
                if trial.should_prune():
                    raise StopTraining(RunStatus.PRUNED)

    return PruneBySweep()


def wait_for_sweep(sweep_id: int, poll_seconds: float = 1.0) -> dict[str, Any]:
    """Block until the sweep ends, keeping it going; give back the sweep."""
    while True:
        sweep = top_up(sweep_id) or repo.get_sweep(sweep_id)
        if sweep["status"] != SweepStatus.RUNNING:
            return sweep
        time.sleep(poll_seconds)
