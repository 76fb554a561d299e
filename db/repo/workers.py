"""Workers: registering one, its heartbeat, stopping it, the ones alive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from db.models import Run, RunStatus, Worker, utcnow
from db.repo.common import _as_dict
from db.session import session_scope


def register_worker(host: str, pid: int, slots: int, devices: list[str]) -> int:
    with session_scope(write=True) as session:
        worker = Worker(host=host, pid=pid, slots=slots, devices=devices)
        session.add(worker)
        session.flush()
        return worker.id


def heartbeat_worker(worker_id: int, run_ids: Sequence[int]) -> None:
    """Mark the worker and the runs it is training as alive."""
    now = utcnow()
    with session_scope(write=True) as session:
        session.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now))
        if run_ids:
            session.execute(
                update(Run)
                .where(Run.id.in_(run_ids), Run.status == RunStatus.RUNNING)
                .values(heartbeat_at=now)
            )


def stop_worker(worker_id: int) -> None:
    with session_scope(write=True) as session:
        session.execute(update(Worker).where(Worker.id == worker_id).values(stopped_at=utcnow()))


def alive_workers(max_age_seconds: float = 15.0) -> list[dict[str, Any]]:
    """Give back the workers whose heartbeat is newer than max_age_seconds."""
    since = utcnow() - timedelta(seconds=max_age_seconds)
    with session_scope() as session:
        rows = session.scalars(
            select(Worker).where(Worker.heartbeat_at >= since, Worker.stopped_at.is_(None))
        )
        return [_as_dict(row) for row in rows]
