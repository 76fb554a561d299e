"""The worker: claims queued runs from the database and trains each in its own child process.

`python -m engine worker [--once] [--slots N]`. One per machine; several machines share one database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from db import repo
from db.models import RunStatus
from db.session import run_folder, trainyard_home
from engine.jobs import read_ahead
from engine.jobs.resources import disk_status

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 15.0  # a run whose heartbeat is older than this has lost its worker
CANCEL_GRACE_SECONDS = 10.0
MAX_ATTEMPTS = 3
# The spare process for the next run starts once every run of this worker has trained this long, or none is left. Its
# start (importing torch, a step with each optimiser: about 3 s of a core) slowed a run started at the same time about
# threefold on 2 CPU cores: a Quick run of 73,000 ratings took 5.5–6.9 s instead of 1.6–2.5 s. A run handed to a spare
# still starting begins when the spare would be ready, SPARE_READY_SECONDS after the spare's start.
SPARE_AFTER_SECONDS = 5.0
SPARE_READY_SECONDS = 4.0
ROOT = str(Path(__file__).resolve().parents[2])  # where `python -m engine...` finds the packages


def detect_gpus() -> list[str]:
    """Give back the GPU ids this worker may hand out, without importing torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu for gpu in visible.split(",") if gpu.strip() and gpu.strip() != "-1"]
    if shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
            return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]
        except (OSError, subprocess.SubprocessError):
            return []
    return []


@dataclass
class Child:
    run_id: int
    process: subprocess.Popen
    gpus: tuple[str, ...]
    log: object
    sweep_id: int | None = None
    machine: int = 0  # a run spread over several machines: which one this is (0 claimed it and owns its status)
    attempt: int | None = None  # the try of the run this process trains; a late end of an earlier one changes nothing
    cancel_sent_at: float | None = None
    started: float = field(default_factory=time.monotonic)  # when its process is ready to train (monotonic seconds)


class Worker:
    def __init__(self, slots: int | None = None, once: bool = False, poll_seconds: float = 0.5,
                 auto_resume: bool = True):
        self.gpus = detect_gpus()
        self.slots = slots or max(1, len(self.gpus))
        self.once = once
        self.poll_seconds = poll_seconds
        self.auto_resume = auto_resume
        self.host = socket.gethostname()
        self.children: dict[int, Child] = {}
        self.stopping = False
        self.worker_id: int | None = None
        self.disk_warning: str | None = None
        self.spare: subprocess.Popen | None = None  # a run process started ahead, waiting for its run
        self.spare_started = 0.0
        self.spare_wanted = True  # a spare is to start for the next run (once; one that ends by itself is not redone)
        self.spare_told_idle = False  # the spare was told this worker has no run: it reads data sets ahead meanwhile

    # ------------------------------------------------------------ main loop

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        devices = [f"cuda:{gpu}" for gpu in self.gpus] or ["cpu"]
        self.worker_id = repo.register_worker(self.host, os.getpid(), self.slots, devices)
        self._say(f"worker {self.worker_id} on {self.host} started with {self.slots} slot(s) on {', '.join(devices)}")
        from engine.data.ingest import remove_leftovers

        remove_leftovers()  # what killed imports and abandoned uploads left behind
        last_heartbeat = last_recovery = 0.0
        try:
            while True:
                now = time.monotonic()
                self._reap()
                self._handle_cancels()
                if now - last_heartbeat >= HEARTBEAT_SECONDS:
                    repo.heartbeat_worker(self.worker_id, list(self.children))
                    last_heartbeat = now
                if now - last_recovery >= 5 * HEARTBEAT_SECONDS:
                    self._recover()
                    last_recovery = now
                claimed = False
                while not self.stopping and len(self.children) < self.slots:
                    joined = repo.join_shared_run(self.worker_id, self.host, accept=self._can_join)
                    run = joined[0] if joined else repo.claim_next_run(self.worker_id, self.host,
                                                                       accept=self._can_claim)
                    if run is None:
                        break
                    self._start(run, machine=joined[1] if joined else 0)
                    claimed = True
                if self.stopping and not self.children:
                    break
                if self.once and not self.children and not claimed:
                    break
                if self.spare_wanted and all(now - child.started >= SPARE_AFTER_SECONDS
                                             for child in self.children.values()):
                    self._start_spare()  # for the next run
                if not self.children and not self.spare_told_idle and self.spare is not None and read_ahead.enabled():
                    self._tell_spare_idle()
                time.sleep(self.poll_seconds)
        finally:
            self._shutdown()

    def _request_stop(self, _signum, _frame) -> None:
        self.stopping = True
        for child in self.children.values():
            # SIGINT tells the child it is being interrupted, not cancelled: it resumes later.
            _signal(child.process, signal.SIGINT)

    def _shutdown(self) -> None:
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.2)
        for child in list(self.children.values()):
            _signal(child.process, signal.SIGKILL)
            child.process.wait()
            repo.finish_run(child.run_id, RunStatus.INTERRUPTED,
                            "The worker was stopped; the run resumes from its last checkpoint when a worker starts "
                            "again.", child.attempt)
            child.log.close()
        self.children.clear()
        if self.spare is not None:
            self.spare.terminate()
            try:
                self.spare.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.spare.kill()
            self.spare = None
        if self.worker_id is not None:
            repo.stop_worker(self.worker_id)
        self._say(f"worker {self.worker_id} stopped")

    # ------------------------------------------------------------ runs

    def _free_gpus(self, preference: str, count: int = 1) -> tuple[str, ...] | None:
        """Give back the GPU ids a run with this device preference would get now (none for a CPU run), or None
        when it must wait."""
        busy = {gpu for child in self.children.values() for gpu in child.gpus}
        free = [gpu for gpu in self.gpus if gpu not in busy]
        if preference.startswith("cuda:"):
            wanted = preference.split(":", 1)[1]
            return (wanted,) if wanted in free else None
        if preference == "cuda" or (preference == "auto" and self.gpus):
            return tuple(free[:count]) if len(free) >= count else None if preference == "cuda" or count > 1 else ()
        return ()

    def _can_train(self, run: dict) -> bool:
        """A run asking for GPUs waits until this worker has that many free; 'cpu' runs can always start."""
        training = run["config"].get("training", {})
        if training.get("launcher", "worker") != "worker":  # a cluster's scheduler starts it (engine.jobs.launch)
            return False
        return self._free_gpus(training.get("device", "auto"), training.get("processes", 1)) is not None

    def _can_claim(self, run: dict) -> bool:
        """A run spread over several machines waits while another such run gathers its machines, so that two of
        them never each hold some of the free workers and wait for the rest."""
        if not self._can_train(run):
            return False
        return run["config"].get("training", {}).get("machines", 1) == 1 or not repo.gathering_shared_runs()

    def _can_join(self, run: dict, devices: str) -> bool:
        """Whether this worker can train its share of a run spread over several machines, on their kind of device."""
        training = run["config"].get("training", {})
        gpus = self._free_gpus(training.get("device", "auto"), training.get("processes", 1))
        return gpus is not None and ("cuda" if gpus else "cpu") == devices

    def _start(self, run: dict, machine: int = 0) -> None:
        folder = run_folder(run["id"], create=True)
        env = dict(os.environ)
        training = run["config"].get("training", {})
        gpus = self._free_gpus(training.get("device", "auto"), training.get("processes", 1)) or ()
        # The run sees only its own GPUs (from cuda:0); a CPU run sees none, so it never takes one by accident.
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        env.pop("TRAINYARD_GPU", None)
        if gpus:
            env["TRAINYARD_GPU"] = ",".join(gpus)
        cpu_runs = sum(1 for child in self.children.values() if not child.gpus) + (not gpus)
        cpu_slots = max(cpu_runs, self.slots - len(self.gpus), 1)
        env["TRAINYARD_THREADS"] = str(max(1, (os.cpu_count() or 1) // cpu_slots))
        env["PYTHONUNBUFFERED"] = "1"
        log_path = folder / ("output.log" if machine == 0 else f"output-machine-{machine + 1}.log")
        log = open(log_path, "ab")
        arguments = [str(run["id"])]
        if training.get("processes", 1) * training.get("machines", 1) > 1:
            arguments += ["--machine", str(machine), "--attempt", str(run["attempts"])]
        if machine == 0 and training.get("machines", 1) > 1:
            repo.open_shared_run(run["id"], run["attempts"], self.worker_id, self.host, "cuda" if gpus else "cpu")
        ready = self.spare_started + SPARE_READY_SECONDS
        process = self._hand_to_spare(arguments, env, log_path)
        self.spare_wanted = True
        if process is None:
            process = subprocess.Popen(
                [sys.executable, "-m", "engine.jobs.runner", *arguments],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
            )
            ready = time.monotonic() + SPARE_READY_SECONDS  # it starts as a spare does
        if machine == 0:
            repo.set_run_process(run["id"], process.pid)
        self.children[run["id"]] = Child(run["id"], process, gpus, log, run.get("sweep_id"), machine, run["attempts"],
                                         started=max(time.monotonic(), ready))
        where = f", machine {machine + 1}" if machine else ""
        self._say(f"run {run['id']} started (pid {process.pid}{where}{', GPU ' + ','.join(gpus) if gpus else ''})")

    def _start_spare(self) -> None:
        """Start a run process ahead of time: it imports torch and the engine, then waits for a run."""
        if self.stopping or (self.spare is not None and self.spare.poll() is None):
            return
        self.spare_wanted, self.spare_told_idle = False, False
        try:
            self.spare_started = time.monotonic()
            self.spare = subprocess.Popen(
                [sys.executable, "-m", "engine.jobs.runner", "--spare"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=ROOT, text=True,
            )
        except OSError:
            self.spare = None

    def _tell_spare_idle(self) -> None:
        """Tell the spare this worker has no run, so that it reads data sets ahead until one comes
        (engine.jobs.read_ahead)."""
        self.spare_told_idle = True
        try:
            self.spare.stdin.write(json.dumps({"idle": True}) + "\n")
            self.spare.stdin.flush()
        except OSError:
            pass  # a spare gone: the next run starts its own process

    def _hand_to_spare(self, arguments: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen | None:
        """Give a run (its runner arguments) to the waiting spare process; give back that process, or None when
        there is none."""
        spare, self.spare = self.spare, None
        if spare is None or spare.poll() is not None:
            return None
        try:
            spare.stdin.write(json.dumps({"arguments": arguments, "env": env, "log": str(log_path)}) + "\n")
            spare.stdin.close()
        except OSError:
            spare.kill()
            spare.wait()
            return None
        return spare

    def _reap(self) -> None:
        for run_id, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            child.log.close()
            del self.children[run_id]
            if child.machine:  # machine 0 records how the run ended
                self._say(f"run {run_id} ended on this machine (machine {child.machine + 1}, exit code {code})")
                continue
            if child.cancel_sent_at is not None:
                repo.finish_run(run_id, RunStatus.CANCELLED, attempt=child.attempt)
            elif code != 0:
                reason = (f"it was stopped by signal {signal.Signals(-code).name}" if code < 0
                          else f"it exited with code {code}")
                repo.finish_run(run_id, RunStatus.FAILED, f"The training process ended unexpectedly ({reason}). "
                                                          "The run's log has the details.", child.attempt)
            else:
                # A child that exits cleanly has written its own final status; this only catches a gap.
                repo.finish_run(run_id, RunStatus.FAILED, "The training process ended without reporting a result.",
                                child.attempt)
            self._say(f"run {run_id} ended (exit code {code})")
            if child.sweep_id is not None:
                self._keep_sweeps_going([child.sweep_id])

    def _keep_sweeps_going(self, sweep_ids: list[int] | None = None) -> None:
        """Queue the next trials of sweeps (those given, or every running one) and close those that are done."""
        from engine.search.running import keep_going

        try:
            for sweep in keep_going(sweep_ids):
                self._say(f"sweep {sweep['id']} {sweep['status']}")
        except Exception as error:  # a sweep's trouble must not stop the worker; the next check tries again
            self._say(f"could not keep the sweeps going: {type(error).__name__}: {error}")

    def _handle_cancels(self) -> None:
        for run_id in repo.cancel_requested(list(self.children)):
            child = self.children[run_id]
            if child.cancel_sent_at is None:
                child.cancel_sent_at = time.monotonic()
                _signal(child.process, signal.SIGTERM)
            elif time.monotonic() - child.cancel_sent_at > CANCEL_GRACE_SECONDS:
                _signal(child.process, signal.SIGKILL)

    def _recover(self) -> None:
        """Mark runs whose worker stopped answering as interrupted, and queue them again to resume."""
        warning = disk_status(trainyard_home())["warning"]
        if warning and warning != self.disk_warning:
            self._say(warning)
            for run_id in self.children:
                repo.add_event(run_id, warning, kind="warning", level="warning")
        self.disk_warning = warning
        for run_id in repo.mark_stale_runs_interrupted(STALE_SECONDS):
            self._say(f"run {run_id} lost its worker: marked interrupted")
        if self.auto_resume:
            for run in repo.list_runs(statuses=[RunStatus.INTERRUPTED], with_metrics=False):
                if run["attempts"] < MAX_ATTEMPTS and repo.requeue_run(run["id"], by_person=False):
                    self._say(f"run {run['id']} queued again to resume")
        self._keep_sweeps_going()

    def _say(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _signal(process: subprocess.Popen, signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


def start_background_worker(log_path: Path | None = None) -> subprocess.Popen:
    """Start `python -m engine worker` detached from the caller, so it outlives the dashboard."""
    log_path = log_path or trainyard_home() / "worker.log"
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT,
        )


def ensure_worker() -> bool:
    """Start a local worker unless one is alive; give back True when one was started."""
    import fcntl

    if repo.alive_workers(STALE_SECONDS):
        return False
    with open(trainyard_home() / ".worker-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if repo.alive_workers(STALE_SECONDS):
            return False
        start_background_worker()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not repo.alive_workers(STALE_SECONDS):
            time.sleep(0.2)
        return True
