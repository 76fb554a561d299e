"""Starting a run that trains on several processes or machines, with torch.distributed's elastic launcher (the
library behind `torchrun`).

The worker that claims such a run starts `python -m engine.jobs.runner RUN_ID` as for any run; that process sees
the run's `training.processes` and `training.machines` and becomes the run's launcher on this machine (`launch`):
it starts one training process per share (`runner --rank RUN_ID`), which meet at machine 0's address and train
together (engine.training.parallel). Machine 0 is the worker that claimed the run; the workers of other machines
join it through the database (`repo.join_shared_run`), which also tells them where to meet.

`check_launch` refuses, before a run is queued, what could never start; it does not import torch, so pages can use
it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any

from db import repo
from db.models import RunStatus
from engine.config import RunConfig
from engine.errors import UserError

RENDEZVOUS_SECONDS = 600  # how long a run's machines wait for each other before the run waits in the queue again
# How long the launcher gives its processes to stop after a signal before it kills them: less than the worker gives
# the launcher (engine.jobs.worker.CANCEL_GRACE_SECONDS), so that no process outlives its launcher.
SHUTDOWN_SECONDS = 8
STOPPING = (signal.SIGTERM, signal.SIGINT)  # the signals that stop a run's launcher: a cancel, or its worker stopping
INTERRUPTED_WORDS = ("The worker training this run stopped; it resumes from its last checkpoint when a worker picks it "
                     "up again.")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wants_gpu(device: str) -> bool:
    return device == "cuda" or device.startswith("cuda:")


def gpu_counts() -> list[int]:
    """Give back how many GPUs each working machine has (the live workers' own account, else this machine's)."""
    from engine.jobs.worker import STALE_SECONDS, detect_gpus

    counts = [sum(1 for device in worker.get("devices") or [] if str(device).startswith("cuda"))
              for worker in repo.alive_workers(STALE_SECONDS)]
    return counts or [len(detect_gpus())]


def check_launch(config: RunConfig | dict[str, Any]) -> None:
    """Refuse, in plain words, a run on several processes or machines that could not start here."""
    t = config.training if isinstance(config, RunConfig) else RunConfig.model_validate(config).training
    if t.total_processes == 1:
        return
    from db.session import get_engine

    if t.machines > 1 and get_engine().dialect.name == "sqlite":
        raise UserError(f"A run over {t.machines} machines needs a database they all share (PostgreSQL), and this "
                        "Trainyard keeps its database in a file on one computer (SQLite). Set Machines to 1, or "
                        "see 'Running on several machines' in the README.")
    if t.device.startswith("cuda:"):
        raise UserError(f"A run on several processes takes one GPU per process, so it cannot ask for one given GPU "
                        f"({t.device}). Choose the device 'cuda' or 'auto'.")
    gpus = max(gpu_counts())
    if wants_gpu(t.device) or (t.device == "auto" and gpus):
        if t.processes > gpus:
            raise UserError(f"This run asks for {t.processes} processes per machine on GPUs, one GPU each, but the "
                            f"largest machine has {gpus}. Choose {max(gpus, 1)} processes or fewer"
                            + (", or the CPU." if gpus else ", or the device 'cpu'."))
        return
    cores = os.cpu_count() or 1
    if t.processes > cores:
        raise UserError(f"This run asks for {t.processes} processes on the CPU, but this computer has {cores} "
                        f"cores and each process needs one of its own. Choose {cores} or fewer.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def this_address() -> str:
    """Give back the address the other machines reach this one at (TRAINYARD_ADDRESS, else the host's own)."""
    if address := os.environ.get("TRAINYARD_ADDRESS"):
        return address
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def rendezvous_seconds() -> int:
    return int(float(os.environ.get("TRAINYARD_RENDEZVOUS_TIMEOUT", RENDEZVOUS_SECONDS)))


def torchrun_command(run: dict[str, Any], endpoint: str = "$MASTER_ADDR:29500") -> str:
    """Give back the command a cluster's scheduler runs on each of the run's machines (training.launcher
    'torchrun'), in Trainyard's folder with its DATABASE_URL and TRAINYARD_HOME; the first process takes the run."""
    t = RunConfig.model_validate(run["config"]).training
    meeting = ("--standalone" if t.machines == 1 else
               f"--nnodes={t.machines} --rdzv-backend=c10d --rdzv-endpoint={endpoint} "
               f"--rdzv-id=trainyard-run-{run['id']}")
    return f"torchrun {meeting} --nproc-per-node={t.processes} -m engine.jobs.runner --rank {run['id']}"


def cause(item: tuple[int, Any]) -> tuple:
    """Order a run's failed processes (rank, failure) by how likely each is the cause of the others' failures.

    A process killed by a signal from outside (the kernel's out-of-memory killer, a crash) leaves no account of its
    own, and the others then fail at their next exchange with it ("connection closed by peer"): it comes first.
    Then the processes that stopped on an error of their own, the earliest first; last, those the launcher itself
    stopped (SIGTERM or SIGINT) once another had failed.
    """
    rank, failure = item
    stopped = failure.exitcode < 0
    from_outside = stopped and -failure.exitcode not in (signal.SIGTERM, signal.SIGINT)
    return not from_outside, stopped, failure.timestamp, rank


def failure_words(error: Any, world: int) -> str:
    """Give back, in words, why the first of the run's processes to fail did (a ChildFailedError)."""
    rank, failure = min(error.failures.items(), key=cause)
    recorded = failure.error_file_data.get("message") if isinstance(failure.error_file_data, dict) else None
    if isinstance(recorded, dict):
        recorded = recorded.get("message")
    recorded = str(recorded).strip().splitlines()[0][:300] if recorded and recorded != "<NONE>" else ""
    if not recorded:
        recorded = (f"it was stopped by signal {failure.signal_name()}" if failure.exitcode < 0
                    else f"it exited with code {failure.exitcode}")
    return (f"Training stopped because of an unexpected problem in process {rank + 1} of {world} ({recorded}). "
            "The run's log has the details.")


def stop_once(signum: int, _frame: Any) -> None:
    """Stop the launcher at its first SIGTERM or SIGINT and leave its processes to stop in order, deaf to more.

    The kernel sends a parent-death signal each time this process passes from one thread of its dying worker to the
    next, so a killed worker's SIGINT comes several times. torch's own handler broke off the processes' orderly stop
    at the second and sent them SIGTERM, which they read as a cancel: the run then never resumed."""
    from torch.distributed.elastic.multiprocessing.api import SignalException

    for each in STOPPING:
        signal.signal(each, lambda *_: None)
    raise SignalException(f"Process {os.getpid()} got signal {signum}", sigval=signal.Signals(signum))


def launch(run_id: int, machine: int, attempt: int) -> int:
    """As machine `machine` of this try of run_id, start its training processes and wait for them; give back an
    exit code."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    worker = os.getppid()
    for each in STOPPING:  # this process, not torch's launcher, hears the signals that stop a run (stop_once)
        signal.signal(each, stop_once)
    run = repo.get_run(run_id)
    t = RunConfig.model_validate(run["config"]).training
    world = t.total_processes
    endpoint = "(not chosen yet)"
    try:
        if machine == 0:
            endpoint = f"{this_address()}:{free_port()}"
            repo.set_shared_run_endpoint(run_id, attempt, endpoint)  # the other machines' workers join now
        else:
            endpoint = repo.shared_run_endpoint(run_id, attempt)
        os.environ["TRAINYARD_LAUNCHER"] = "worker"  # the worker looks after the run (heartbeat, cancel)
        threads = int(os.environ.get("TRAINYARD_THREADS", "0")) or (os.cpu_count() or 1)
        os.environ["TRAINYARD_THREADS"] = str(max(1, threads // t.processes))
        if machine == 0:
            repo.add_event(run_id, f"Training on {world} processes ({t.machines} machine{'s' * (t.machines > 1)}); "
                                   f"the processes meet at {endpoint}")
        print(f"Run {run_id}: machine {machine + 1} of {t.machines} starts {t.processes} training processes, "
              f"meeting at {endpoint}", flush=True)
        settings = LaunchConfig(
            min_nodes=t.machines, max_nodes=t.machines, nproc_per_node=t.processes,
            run_id=f"trainyard-run-{run_id}-{attempt}", rdzv_backend="static", rdzv_endpoint=endpoint,
            rdzv_configs={"rank": machine, "timeout": rendezvous_seconds()}, max_restarts=0, monitor_interval=0.5,
            shutdown_timeout=SHUTDOWN_SECONDS, signals_to_handle="SIGHUP,SIGQUIT",
        )
        elastic_launch(settings, entrypoint=sys.executable)("-m", "engine.jobs.runner", "--rank", str(run_id))
    except ChildFailedError as error:
        for rank, failure in sorted(error.failures.items()):
            print(f"Run {run_id}: process {rank + 1} of {world} ended with exit code {failure.exitcode}", flush=True)
        repo.finish_run(run_id, RunStatus.FAILED, failure_words(error, world), attempt)
        return 1
    except SignalException as stopped:
        # The processes heard the same signal and recorded why they stopped (cancelled or interrupted), unless they
        # took longer than SHUTDOWN_SECONDS and were killed first, or had not started: then machine 0 records it in
        # their place (a try that already ended is left as it is), so that no run stays "running" with nothing
        # training it.
        print(f"Run {run_id}: machine {machine + 1} stopped by {signal.Signals(stopped.sigval).name}", flush=True)
        if machine == 0:
            cancelled = stopped.sigval == signal.SIGTERM and os.getppid() == worker
            if cancelled:
                repo.finish_run(run_id, RunStatus.CANCELLED, attempt=attempt)
            else:
                repo.finish_run(run_id, RunStatus.INTERRUPTED, INTERRUPTED_WORDS, attempt)
        return 0
    except Exception as error:  # the machines never all met (timeout), or the launcher itself failed
        print(f"Run {run_id}: machine {machine + 1} could not start training ({type(error).__name__}: {error})",
              file=sys.stderr, flush=True)
        if machine == 0:
            repo.finish_run(run_id, RunStatus.INTERRUPTED,
                            f"The run's {t.machines} machines did not all start training together within "
                            f"{rendezvous_seconds()} s ({type(error).__name__}); it waits in the queue for free "
                            f"workers again. Check that every machine's worker can reach {endpoint}.", attempt)
        return 1
    return 0
