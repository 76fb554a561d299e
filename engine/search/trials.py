"""A sweep's trials: each trial's settings (the sweep's preset, its fixed changes, the trial's own values on top),
asking the study for a trial and queuing its run, and the figure a trial is judged by. No torch here.
"""

from __future__ import annotations

from typing import Any

from db import repo
from db.models import RunStatus
from engine.errors import UserError
from engine.search.space import suggest
from engine.search.study import _quiet

# trials that still train or will (an interrupted one resumes)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED)


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


def run_value(run: dict[str, Any], metric: str, direction: str) -> float | None:
    """Give back the figure a trial is judged by: its best epoch's when it kept the best epoch, else its last."""
    summary = (run.get("metrics") or {}).get(metric)
    if not summary:
        return None
    if run["status"] == RunStatus.COMPLETED and (run.get("config") or {}).get("training", {}).get("keep_best"):
        return summary["min"] if direction == "minimize" else summary["max"]
    return summary["last"]


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
