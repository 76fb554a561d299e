"""The child process that trains one run: `python -m engine.jobs.runner RUN_ID`.

It reads everything it needs from the database, writes metrics in batches and its final status.
A crash stays inside this process; the worker that started it keeps serving.

`python -m engine.jobs.runner --spare` is the same process started ahead of time: it imports torch and the
engine, then waits for the worker to hand it a run on standard input (one JSON line: run id, environment,
log file), so a run starts training without waiting seconds for those imports.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

import engine
from db import repo
from db.models import RunStatus, utcnow
from db.session import run_folder
from engine.config import RunConfig
from engine.data.prepare import prepare_dataset
from engine.errors import UserError
from engine.files import register_artifact, write_json
from engine.jobs.launch import INTERRUPTED_WORDS
from engine.jobs.process import (StopSignals, ask_for_signal_on_parent_death, keep_alive, record_warnings,
                                  take_by_hand, wait_for_run, warm_up)
from engine.jobs.record import record_reference, record_test_figures, write_evaluation
from engine.jobs.resources import ResourceMonitor
from engine.models.pairs import TUNING_LOSS
from engine.models.registry import build_model, data_options
from engine.training.callbacks import Checkpointer, MetricLogger, ProgressReporter, StopCheck, StopTraining
from engine.training.checkpoint import load_checkpoint, save_checkpoint
from engine.training.crossval import CROSSVAL_FILE, cross_validation
from engine.training.device import describe_device, pick_device
from engine.training.encoded import encoding_progress_share, trainable
from engine.training.loop import WATCHED_WORDS, train
from engine.training.parallel import SINGLE, Team, join, leave
from engine.training.reference import fit_reference, reference_limit
from engine.training.warm_start import start_from_run
from engine.words import plain_number


def code_version() -> str:
    try:
        root = Path(engine.__file__).resolve().parent.parent
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip() or engine.__version__
    except (OSError, subprocess.SubprocessError):
        return engine.__version__


def team_device(config: RunConfig) -> str:
    """Give back the kind of device ('cuda' or 'cpu') the processes of a run on several train on."""
    # A worker hands a CPU run no GPU (CUDA_VISIBLE_DEVICES empty); torchrun on a cluster may leave it unset: all
    return "cuda" if config.training.device != "cpu" and torch.cuda.is_available() else "cpu"


def run_cross_validation(run_id: int, config, dataset: dict[str, Any], device, callbacks: list,
                         progress=None) -> dict[str, Any] | None:
    """Cross-validate the run when it asks for folds (engine.training.crossval) and record the result: crossval.json
    in its folder, the mean ± std as metrics and each headline in its history. Does nothing when the run asks for no
    folds, or was cross-validated before it was interrupted."""
    folds = getattr(config.split, "folds", 1) or 1
    path = run_folder(run_id) / CROSSVAL_FILE
    if folds < 2 or path.exists():
        return None
    repo.add_event(run_id, f"Cross-validation: training {folds} models, each scored on a different fold")
    result = cross_validation(config, dataset, device, callbacks, progress)
    write_json(path, result, indent=None)
    register_artifact(run_id, "crossval", path)
    now = time.time()
    repo.log_metrics(run_id, [(f"cv_{key}_{which}", 0, result[which][key], None, now)
                              for key in result["mean"] for which in ("mean", "std")])
    for sentence in result["summary"]:
        repo.add_event(run_id, sentence)
    return result


def execute(run: dict[str, Any], stop: StopSignals, team: Team = SINGLE) -> None:
    """Train run in this process; with a team, as one of the run's processes (rank 0 alone writes)."""
    run_id = run["id"]
    # From the worker's claim to here: a run process still starting, which no estimate prices (engine.estimates).
    waited = (utcnow() - run["started_at"]).total_seconds() if run.get("started_at") else 0.0
    dataset = repo.get_dataset(run["dataset_id"])
    config = RunConfig.model_validate(run["config"])
    folder = run_folder(run_id, create=True)
    leader = team.leader
    threads = int(os.environ.get("TRAINYARD_THREADS", "0"))
    if threads > 0:
        torch.set_num_threads(threads)
    preference = config.training.device
    if os.environ.get("TRAINYARD_GPU") is not None and preference.startswith("cuda"):
        preference = "cuda"  # the worker handed this run its GPU; inside the process it is cuda:0
    if team.shared:
        device = torch.device("cuda", team.local_rank) if team_device(config) == "cuda" else torch.device("cpu")
    else:
        device = pick_device(preference)
    environment = {
        "seed": config.training.seed, "dataset_sha256": dataset["sha256"], "code_version": code_version(),
        "torch": torch.__version__, "python": platform.python_version(), "host": platform.node(),
        "threads": torch.get_num_threads(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "start_wait_seconds": round(max(0.0, waited), 2),
    }
    if team.shared:
        environment |= {"processes": team.world, "strategy": config.training.strategy}
    if leader:
        repo.set_run_environment(run_id, describe_device(device) + (f" × {team.world}" if team.shared else ""),
                                 environment)
        print(f"Run {run_id}: preparing data set '{dataset['name']}' on {device}", flush=True)
        if team.shared:
            repo.add_event(run_id, config.training.parallel_words())

    data = prepare_dataset(dataset, config.split.validation_fraction, config.split.test_fraction,
                           config.split.seed, **data_options(config.model.name))
    run_cross_validation(run_id, config, dataset, device, [StopCheck(stop)],
                         lambda share: repo.update_progress(run_id, share, None))
    model = build_model(config.model, data.spec, seed=config.training.seed)
    if config.training.init_from and not (folder / "checkpoint.pt").exists():
        started = start_from_run(model, config.model, data.spec, data.preprocessing, config.training.init_from)
        if leader:
            repo.add_event(run_id, started)
            print(f"Run {run_id}: {started}", flush=True)
    # Share of the progress bar the pretrained encoder's first look at the data takes, when it has to look; the
    # share of that reading done before (read ahead, or by a run stopped part way), whose time this run leaves out.
    encoding_share, encoding_started, tenths_told, share_before = 0.0, time.monotonic(), 0, None

    def encoding(done: int, total: int, seconds_left: float | None) -> None:
        nonlocal encoding_share, tenths_told, share_before
        if reason := stop():
            raise StopTraining(reason)
        if share_before is None:  # the first report says where the reading stands
            share_before = done / total if seconds_left is None else 0.0
        encoding_share = encoding_progress_share(model)
        repo.update_progress(run_id, encoding_share * done / total, seconds_left)
        if done * 10 // total <= tenths_told:  # told each tenth of the way
            return
        tenths_told = done * 10 // total
        if getattr(model, "tunes_on_pairs", False):
            print(f"Run {run_id}: tuning the pretrained network on pairs of the training texts, then reading "
                  f"every text with it: {done / total:.0%} done", flush=True)
        else:
            print(f"Run {run_id}: the pretrained network has read {done / total:.0%} of the data set (once for this "
                  "data set; later runs reuse it)", flush=True)

    def tuning_loss(step: int, loss: float) -> None:
        """Draw the tuning on pairs as the run's first curve (a later try tunes the same pairs again, same steps)."""
        if leader:
            repo.log_metrics(run_id, [(TUNING_LOSS, step, loss, None, time.time())])

    part, part_data = trainable(model, data, device, dataset, encoding, seed=config.training.seed,
                                on_tuning_loss=tuning_loss)
    if encoding_share and leader:  # the encoder read the data set: its time, for the estimates of later runs
        environment["encoding_seconds"] = round(time.monotonic() - encoding_started, 2)
        if share_before:
            environment["encoding_share"] = round(1 - share_before, 4)
        repo.set_run_environment(run_id, describe_device(device), environment)
    checkpoint_path = folder / "checkpoint.pt"
    resume = None
    if leader and checkpoint_path.exists():
        resume = load_checkpoint(checkpoint_path)
        repo.delete_metrics_after(run_id, resume["state"]["step"])
        repo.add_event(run_id, f"Resumed from the checkpoint after epoch {resume['state']['epoch']}")
        print(f"Run {run_id}: resuming after epoch {resume['state']['epoch']}", flush=True)
    resume = team.from_leader(resume)  # every process resumes from rank 0's checkpoint

    def save(checkpoint: dict[str, Any]) -> None:
        checkpoint.update(config=config.model_dump(), preprocessing=data.preprocessing, spec=data.spec)
        save_checkpoint(checkpoint_path, checkpoint)

    callbacks = [
        MetricLogger(lambda points: repo.log_metrics(run_id, points)),
        ProgressReporter(lambda progress, eta: repo.update_progress(run_id, progress, eta), after=encoding_share),
        StopCheck(stop),
        Checkpointer(save),
        ResourceMonitor(lambda points: repo.log_metrics(run_id, points)),
    ]
    if run.get("sweep_id") is not None and leader:  # a sweep's trial: its pruner may stop it after an epoch
        from engine.search.running import pruning_callback

        callbacks += [callback for callback in [pruning_callback(run)] if callback is not None]
    if not leader:
        callbacks = [StopCheck(stop)]
    try:
        state, final = train(config, part_data, part, device, callbacks, resume=resume, team=team)
    except torch.OutOfMemoryError:
        smaller = max(1, config.training.batch_size // 2)
        raise UserError(f"The device ran out of memory with batches of {config.training.batch_size}. "
                        f"Try a batch size of {smaller} or a smaller model.") from None
    leave(team)
    if not leader:
        return
    kept = state.extra.get("kept_epoch")
    if kept:
        repo.add_event(run_id, f"Kept the weights of epoch {kept['epoch']} of {state.epoch}, the one with the best "
                               f"{WATCHED_WORDS[kept['metric']]} ({plain_number(kept['value'], 4)})")
    share = state.extra.get("range_share")
    if share is not None:
        repo.add_event(run_id, f"The networks that read numbers by range count for {share:.0%} of the answer and "
                               f"those that read them as they are for {1 - share:.0%}: of the shares tried, the one "
                               "with the lowest validation loss")
    model_path = folder / "model.pt"
    save_checkpoint(model_path, {
        "model": model.to("cpu").state_dict(), "config": config.model_dump(),
        "preprocessing": data.preprocessing, "spec": data.spec,
        "dataset": {"id": dataset["id"], "name": dataset["name"], "sha256": dataset["sha256"]},
    })
    register_artifact(run_id, "model", model_path)
    print(f"Run {run_id}: fitting a simple classical model on the same rows, to compare with", flush=True)
    reference = fit_reference(dataset, data, reference_limit(state.train_seconds), threads=torch.get_num_threads())
    answering = (part, part_data.arrays["test"][0]) if part is not model else None  # cached features: no re-reading
    report = write_evaluation(run_id, model, data, device, reference=reference, answering=answering)
    record_test_figures(run_id, report, state.step, float(state.epoch))
    record_reference(run_id, reference, report, step=state.step)
    summary = ", ".join(f"{k} {v:.4g}" for k, v in final.items())
    print(f"Run {run_id}: finished after {state.epoch} epochs: {summary}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = argv or sys.argv[1:]
    if args[0] == "--spare":
        warm_up()
        args = wait_for_run()
        if args is None:
            return 0
    if args[0] == "--rank":  # one of the processes of a run on several, started by engine.jobs.launch
        code = finish(int(args[1]), shared=True)
        # Nothing is left to do, so the process ends here, without the interpreter's clean-up: there, a thread that
        # torch's gloo left behind could abort it ("terminate called without an active exception"), and the launcher
        # then took a process that had finished its share for a failed one and stopped the others, failing a run
        # whose first process was still writing its results.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    run_id = int(args[0])
    if "--machine" in args:  # a run on several processes: this machine's share of them
        from engine.jobs.launch import launch

        # The worker's death reaches the training processes as an interruption, so the run resumes later.
        ask_for_signal_on_parent_death(signal.SIGINT)
        return launch(run_id, int(args[args.index("--machine") + 1]), int(args[args.index("--attempt") + 1]))
    return finish(run_id)


def finish(run_id: int, shared: bool = False) -> int:
    """Train run_id in this process and record how it ended; give back the process's exit code.

    As one of a run's several processes (shared), rank 0 records the end; an unexpected problem is left in the
    launcher's error file for engine.jobs.launch to report, as the other processes fail too once one is gone.
    """
    # One process alone hears signals at once; the processes of a run on several only once they have met (below).
    stop = None if shared else StopSignals()
    record_warnings(run_id)
    team = SINGLE
    by_hand = shared and os.environ.get("TRAINYARD_LAUNCHER") != "worker"  # torchrun, from a cluster's scheduler
    if by_hand and os.environ.get("RANK", "0") == "0" and not take_by_hand(run_id):
        return 1  # before meeting the others, which the launcher then stops
    run = repo.get_run(run_id)
    attempt = run["attempts"]
    if shared:
        config = RunConfig.model_validate(run["config"])
        team = join(config.training.strategy, team_device(config))
    # Only now: until the processes have met, a signal ends this one at once. A cluster's scheduler sends SIGTERM
    # when a job's time is up or it makes room: the run resumes when started again (a cancel comes by the database).
    stop = stop or StopSignals(term_cancels=not by_hand)
    if by_hand and team.leader:
        keep_alive(run_id, stop)
    try:
        execute(run, stop, team)
    except StopTraining as stopped:
        leave(team)
        if not team.leader:
            return 0
        if stopped.reason == RunStatus.CANCELLED:
            repo.finish_run(run_id, RunStatus.CANCELLED, attempt=attempt)
        elif stopped.reason == RunStatus.PRUNED:
            print(f"Run {run_id}: stopped early by its sweep, as its validation figures were behind the other "
                  "trials'", flush=True)
            repo.finish_run(run_id, RunStatus.PRUNED, attempt=attempt)
        else:
            repo.finish_run(run_id, RunStatus.INTERRUPTED, INTERRUPTED_WORDS, attempt)
        return 0
    except UserError as error:
        print(f"Run {run_id} failed: {error}", file=sys.stderr, flush=True)
        repo.finish_run(run_id, RunStatus.FAILED, str(error), attempt)
        return 1
    except Exception as error:
        traceback.print_exc()
        if shared and not by_hand:  # the launcher names the process whose failure made the others fail
            from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

            ErrorHandler().record_exception(error)
            return 1
        where = f" in process {team.rank + 1} of {team.world}" if shared else ""
        repo.finish_run(run_id, RunStatus.FAILED,
                        f"Training stopped because of an unexpected problem{where} ({type(error).__name__}: "
                        f"{error}). The run's log has the details.", attempt)
        return 1
    if not team.leader:
        return 0
    repo.finish_run(run_id, RunStatus.COMPLETED, attempt=attempt)
    prepare_charts(run_id)
    return 0


def prepare_charts(run_id: int) -> None:
    """Store the extremes of the run's long curves now, so its charts draw at once the first time."""
    from db.explorer import prepare_long_curves

    try:
        prepare_long_curves(run_id)
    except Exception as error:  # only a speed-up: the page stores them itself when it first draws them
        print(f"Run {run_id}: could not prepare its charts ({error}).", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
