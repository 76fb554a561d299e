"""Keeping a sweep going: `top_up`, the one place that tells the study how trials ended, queues the next ones and
closes the sweep; the worker's periodic check, cancelling, waiting for a sweep to end, and the pruning callback
inside a trial's run. No torch at the top: the dashboard imports it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from db import repo
from db.models import RunStatus, SweepStatus
from engine.errors import UserError
from engine.search.results import elapsed_seconds, outcome
from engine.search.study import _quiet, load_study, sweep_lock
from engine.search.trials import ACTIVE, _new_trial, run_value

# ---------------------------------------------------------------- keeping a sweep going


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
