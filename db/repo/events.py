"""A run's events (status changes and log lines) and its artifacts (recorded files)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from db.models import Artifact, RunEvent
from db.repo.common import _as_dict
from db.session import session_scope


def add_event(run_id: int, message: str, kind: str = "log", level: str = "info") -> None:
    with session_scope(write=True) as session:
        session.add(RunEvent(run_id=run_id, kind=kind, level=level, message=message))


def list_events(run_id: int, limit: int = 200) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(
            select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id.desc()).limit(limit)
        )
        return [_as_dict(row) for row in rows][::-1]


def add_artifact(run_id: int, kind: str, path: str, size: int, sha256: str) -> None:
    with session_scope(write=True) as session:
        session.execute(delete(Artifact).where(Artifact.run_id == run_id, Artifact.kind == kind))
        session.add(Artifact(run_id=run_id, kind=kind, path=path, bytes=size, sha256=sha256))


def list_artifacts(run_id: int) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id))
        return [_as_dict(row) for row in rows]
