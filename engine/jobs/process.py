"""What the runner process sets up around the run it trains, apart from the training itself.

The signals that stop a run (StopSignals), Python warnings shown in the run's log, the spare process's wait for a
run and its warm-up, a signal asked for on the parent's death, and a run that a cluster's scheduler started by hand
(taking it and keeping its heartbeat). engine.jobs.runner uses them.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time
import warnings
from pathlib import Path

import torch

from db import repo
from db.models import RunStatus


class StopSignals:
    """Turns signals into a stop reason: SIGTERM from a live worker is a cancel, SIGINT (a worker stopping) and the
    worker's death are an interruption, which resumes later."""

    def __init__(self, term_cancels: bool = True):
        self.parent = os.getppid()
        self.term_cancels = term_cancels
        self.reason: str | None = None
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_interrupt)
        if sys.platform.startswith("linux"):
            # Ask the kernel for a signal of its own when the worker dies, so no run trains on unsupervised. Not
            # SIGTERM: the kernel sends it when the worker's thread that started this process ends, which can come
            # while the rest of a killed worker is still going, so this process's parent still looked alive and a
            # SIGTERM read as a cancel (2 runs in 4 when a worker was killed with SIGKILL).
            signal.signal(signal.SIGUSR1, self._on_interrupt)
            try:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGUSR1)  # PR_SET_PDEATHSIG
            except OSError:
                pass

    # The first signal decides: a launcher that stops its processes may follow its SIGINT with a SIGTERM, which
    # must not turn an interruption into a cancel.
    def _on_term(self, _signum, _frame) -> None:
        cancels = self.term_cancels and os.getppid() == self.parent
        self.reason = self.reason or (RunStatus.CANCELLED if cancels else RunStatus.INTERRUPTED)

    def _on_interrupt(self, _signum, _frame) -> None:
        self.reason = self.reason or RunStatus.INTERRUPTED

    def __call__(self) -> str | None:
        if self.reason is None and os.getppid() != self.parent:
            self.reason = RunStatus.INTERRUPTED
        return self.reason


def record_warnings(run_id: int) -> None:
    """Show each Python warning in the run's log and its history, once per place it comes from."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = f"{category.__name__}: {message}"
        print(f"Warning: {text} ({Path(filename).name}:{lineno})", flush=True)
        try:
            repo.add_event(run_id, text, kind="warning", level="warning")
        except Exception:
            pass

    warnings.showwarning = show


def wait_for_run() -> list[str] | None:
    """As a spare: wait for the worker's hand-over, take on the run's environment and log; give back the run's
    arguments, or None when the worker went away first (standard input closed).

    While the worker says it is idle (a line {"idle": true}), read data sets ahead between two looks at standard
    input (engine.jobs.read_ahead), on one thread."""
    from engine.jobs.read_ahead import ReadAhead

    reader, idle, threads, lines = ReadAhead(), False, torch.get_num_threads(), _Lines(sys.stdin.fileno())
    previous = signal.signal(signal.SIGTERM, _leave)  # the worker stopping: keep what was read
    try:
        while True:
            reading = idle and reader.step()
            line = lines.next(0 if reading else None if not idle else 1.0)
            if line is None:
                continue
            if not line.strip():
                return None
            order = json.loads(line)
            if "idle" in order:
                idle = bool(order["idle"])
                torch.set_num_threads(1 if idle else threads)
                continue
            break
    except SystemExit:
        return None
    finally:
        reader.stop()
        torch.set_num_threads(threads)
        signal.signal(signal.SIGTERM, previous)
    os.environ.clear()
    os.environ.update(order["env"])
    log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return order["arguments"]


def _leave(_signum, _frame) -> None:
    raise SystemExit(0)


class _Lines:
    """Lines from a file descriptor, each waited for no longer than asked."""

    def __init__(self, fd: int):
        self.fd, self.buffer, self.ended = fd, b"", False

    def next(self, timeout: float | None) -> str | None:
        """Give back the next line, "" once the other end closed, or None when none came within timeout seconds."""
        while b"\n" not in self.buffer and not self.ended:
            if not select.select([self.fd], [], [], timeout)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            self.ended = not chunk
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def warm_up() -> None:
    """As a spare, take one training step of a tiny network with every optimiser, so that a run's first step finds
    their code loaded (building the first optimiser loads about a second of PyTorch's code on a CPU), and load the
    data code each kind of data set needs."""
    import engine.data.images  # noqa: F401
    import engine.data.ingest  # noqa: F401
    import engine.data.profile  # noqa: F401
    import engine.data.ratings  # noqa: F401
    import engine.data.text  # noqa: F401
    from engine.config import TrainingConfig
    from engine.training.loop import OPTIMIZERS, make_optimizer, make_scheduler

    model = torch.nn.Linear(2, 2)
    for name in OPTIMIZERS:
        settings = TrainingConfig(optimizer=name)
        optimizer = make_optimizer(model, settings)
        scheduler = make_scheduler(optimizer, settings, steps_per_epoch=1)
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)


def ask_for_signal_on_parent_death(signum: int) -> None:
    """Ask the kernel to send signum to this process when the one that started it dies (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signum)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def take_by_hand(run_id: int) -> bool:
    """As the first process of a run that a cluster's scheduler started with torchrun, take the run as a worker
    would; give back False when it is not waiting to be trained."""
    import socket

    try:
        repo.claim_run_by_hand(run_id, socket.gethostname())
    except ValueError as status:
        print(f"Run {run_id} is {status}, not waiting to be trained: nothing to do.", file=sys.stderr, flush=True)
        return False
    return True


def keep_alive(run_id: int, stop: StopSignals) -> None:
    """Keep the heartbeat of a run no worker looks after, and pass on a request to cancel it, from a thread."""
    import threading

    from engine.jobs.worker import HEARTBEAT_SECONDS

    def beat() -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            try:
                repo.heartbeat_run(run_id)
                if repo.cancel_requested([run_id]):
                    stop.reason = RunStatus.CANCELLED
            except Exception as error:  # the database is away for a moment; the next beat tries again
                print(f"Run {run_id}: could not reach the database ({type(error).__name__})", flush=True)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
