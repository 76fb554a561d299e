"""What a sweep found: its trials as the pages show them, the best and the recommended trial, each setting's
importance, the time left, the sweep's whole document (`sweep_document`) and its closing sentence (`outcome`).
No torch here: the dashboard imports it.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from db import repo
from db.models import RunStatus, SweepStatus, utcnow
from engine.errors import UserError
from engine.presets import VALIDATION_SHARE
from engine.search.space import METRIC_WORDS, describe, metric_figure, setting_title
from engine.search.study import _quiet, load_study, storage
from engine.search.trials import ACTIVE, run_value
from engine.words import plain_number


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
            f"{' with ' + settings if settings else ''}: {words} {metric_figure(sweep['metric'], best['value'])}.")
    balanced = next((t for t in trials if t["number"] == 0 and sweep["auto"]), None)
    if balanced is None:
        return text
    if balanced is best:
        return text + " That is the Balanced preset's own run: none of the other settings tried did better."
    if recommended_trial(sweep, trials) is balanced:
        return text + (f" The Balanced preset's run {balanced['run_id']} reached "
                       f"{metric_figure(sweep['metric'], balanced['value'])}: a difference within the luck of which "
                       "rows were kept for validation, so Auto recommends the "
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
    said = (f" On the test rows its error is {plain_number(a, 4)} against {plain_number(b, 4)} for the Balanced preset "
            f"(run {balanced['run_id']})")
    return text + said + (f": {gain:.1f} % smaller." if gain >= 1 else
                          f": Balanced did better on the rows neither had seen; keep run {balanced['run_id']}."
                          if gain <= -1 else ": about the same; either run will do.")
