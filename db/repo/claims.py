"""Claiming runs: a worker taking the next queued run, torchrun taking one by hand, and the runs shared by
several machines (the first opens it and says where they meet, the others join)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from db.models import Run, RunEvent, RunMachine, RunStatus, utcnow
from db.repo.common import _as_dict
from db.session import session_scope


def claim_next_run(worker_id: int, host: str, accept=None) -> dict[str, Any] | None:
    """Atomically take the oldest queued run this worker can train, or give back None.

    accept(run) -> bool lets a worker pass over runs it cannot serve (one asking for a GPU it lacks).
    """
    with session_scope(write=True) as session:
        candidates = session.scalars(
            select(Run)
            .where(Run.status == RunStatus.QUEUED)
            .order_by(Run.created_at, Run.id)
            .limit(50)
            .with_for_update(skip_locked=True)
        ).all()
        run = next((c for c in candidates if accept is None or accept(_as_dict(c))), None)
        if run is None:
            return None
        now = utcnow()
        claimed = session.execute(
            update(Run)
            .where(Run.id == run.id, Run.status == RunStatus.QUEUED)
            .values(status=RunStatus.RUNNING, worker_id=worker_id, worker_host=host, started_at=now,
                    heartbeat_at=now, attempts=Run.attempts + 1, error=None, finished_at=None)
        ).rowcount
        if not claimed:
            return None
        session.add(RunEvent(run_id=run.id, kind="status", message=f"Started on {host}"))
        session.flush()
        session.refresh(run)
        return _as_dict(run)


def open_shared_run(run_id: int, attempt: int, worker_id: int | None, host: str, devices: str) -> None:
    """Record this try of a run spread over several machines as taken by its first machine, training on devices
    ('cuda' or 'cpu'); the others join once it says where they meet (set_shared_run_endpoint)."""
    with session_scope(write=True) as session:
        session.add(RunMachine(run_id=run_id, attempt=attempt, machine=0, worker_id=worker_id, host=host,
                               devices=devices))


def set_shared_run_endpoint(run_id: int, attempt: int, endpoint: str) -> None:
    with session_scope(write=True) as session:
        session.execute(update(RunMachine).where(RunMachine.run_id == run_id, RunMachine.attempt == attempt,
                                                 RunMachine.machine == 0).values(endpoint=endpoint))


def shared_run_endpoint(run_id: int, attempt: int) -> str | None:
    """Give back where the machines of this try of run_id meet (address:port)."""
    with session_scope() as session:
        return session.scalar(select(RunMachine.endpoint).where(
            RunMachine.run_id == run_id, RunMachine.attempt == attempt, RunMachine.machine == 0))


def shared_run_hosts(run_ids: Sequence[int]) -> dict[int, list[str]]:
    """Give back {run id: the hosts of its machines, first machine first} for the runs among run_ids spread over
    several machines (their current try)."""
    if not run_ids:
        return {}
    with session_scope() as session:
        rows = session.execute(
            select(RunMachine.run_id, RunMachine.host)
            .join(Run, (RunMachine.run_id == Run.id) & (RunMachine.attempt == Run.attempts))
            .where(Run.id.in_(list(run_ids))).order_by(RunMachine.run_id, RunMachine.machine)).all()
    hosts: dict[int, list[str]] = {}
    for run_id, host in rows:
        hosts.setdefault(run_id, []).append(host)
    return hosts


def gathering_shared_runs() -> list[int]:
    """Give back the running runs spread over several machines that still wait for some of their machines."""
    with session_scope() as session:
        joined = dict(session.execute(
            select(Run.id, func.count(RunMachine.id))
            .join(RunMachine, (RunMachine.run_id == Run.id) & (RunMachine.attempt == Run.attempts))
            .where(Run.status == RunStatus.RUNNING).group_by(Run.id)).all())
        configs = dict(session.execute(select(Run.id, Run.config).where(Run.id.in_(list(joined)))).all())
    return [run_id for run_id, count in joined.items()
            if count < configs[run_id].get("training", {}).get("machines", 1)]


def join_shared_run(worker_id: int, host: str, accept=None) -> tuple[dict[str, Any], int] | None:
    """Take the next free machine's place in a running run spread over several machines; give back (the run,
    the machine's number from 1), or None when no such run waits for a machine.

    accept(run, devices) -> bool: whether this worker can train its share on the first machine's kind of device
    ('cuda' or 'cpu'). A worker takes at most one place per run; two workers reaching for the same place are told
    apart by the table's unique (run, try, machine), so each place goes to one worker.
    """
    from sqlalchemy.exc import IntegrityError

    with session_scope() as session:
        found = session.execute(
            select(Run, RunMachine.devices).join(
                RunMachine, (RunMachine.run_id == Run.id) & (RunMachine.attempt == Run.attempts)
                & (RunMachine.machine == 0) & RunMachine.endpoint.is_not(None))
            .where(Run.status == RunStatus.RUNNING).order_by(Run.started_at, Run.id)).all()
        runs = [_as_dict(run) for run, _ in found]
        devices = {run.id: kind for run, kind in found}
        places = {}
        for run in runs:
            rows = session.execute(select(RunMachine.machine, RunMachine.worker_id).where(
                RunMachine.run_id == run["id"], RunMachine.attempt == run["attempts"])).all()
            places[run["id"]] = rows
    for run in runs:
        machines = run["config"].get("training", {}).get("machines", 1)
        taken = places[run["id"]]
        if len(taken) >= machines or any(worker == worker_id for _, worker in taken):
            continue
        if accept is not None and not accept(run, devices[run["id"]]):
            continue
        machine = len(taken)
        try:
            with session_scope(write=True) as session:
                session.add(RunMachine(run_id=run["id"], attempt=run["attempts"], machine=machine,
                                       worker_id=worker_id, host=host))
                session.add(RunEvent(run_id=run["id"], kind="status",
                                     message=f"Machine {machine + 1} of {machines} joined: {host}"))
        except IntegrityError:  # another worker took this place first
            return None
        return run, machine
    return None


def claim_run_by_hand(run_id: int, host: str) -> dict[str, Any]:
    """Take run_id for processes a cluster's scheduler started (torchrun), which no worker looks after; give back
    the run. Raises ValueError naming the run's status when it is not waiting."""
    with session_scope(write=True) as session:
        now = utcnow()
        claimed = session.execute(
            update(Run).where(Run.id == run_id, Run.status.in_((RunStatus.QUEUED, RunStatus.INTERRUPTED)))
            .values(status=RunStatus.RUNNING, worker_id=None, worker_host=host, started_at=now, heartbeat_at=now,
                    attempts=Run.attempts + 1, error=None, finished_at=None, cancel_requested=False)
        ).rowcount
        run = session.get(Run, run_id)
        if run is None:
            raise KeyError(run_id)
        if not claimed:
            raise ValueError(run.status)
        session.add(RunEvent(run_id=run_id, kind="status", message=f"Started by torchrun on {host}"))
        session.flush()
        session.refresh(run)
        return _as_dict(run)
