"""Sweeps: creating one, reading it with its trials' counts, its trial runs, cancelling and finishing it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, update

from db import access
from db.models import Dataset, Run, Sweep, SweepStatus, utcnow
from db.repo.common import _as_dict
from db.repo.metrics import summaries_in
from db.session import session_scope


def create_sweep(**fields: Any) -> dict[str, Any]:
    actor = access.require("train")
    with session_scope(write=True) as session:
        sweep = Sweep(**fields)
        session.add(sweep)
        session.flush()
        access.record(session, "sweep", f"sweep {sweep.id}", f"{sweep.trials} trials on data set {sweep.dataset_id}",
                      actor)
        return _as_dict(sweep)


def _sweep_counts(session, sweep_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(Run.sweep_id, Run.status, func.count()).where(Run.sweep_id.in_(list(sweep_ids)))
        .group_by(Run.sweep_id, Run.status))
    for sweep_id, status, count in rows:
        counts.setdefault(sweep_id, {})[status] = count
    return counts


def get_sweep(sweep_id: int) -> dict[str, Any] | None:
    """Give back a sweep with its data set's name and how many of its trials have each status."""
    with session_scope() as session:
        row = session.execute(select(Sweep, Dataset.name).join(Dataset, Dataset.id == Sweep.dataset_id)
                              .where(Sweep.id == sweep_id)).first()
        if row is None:
            return None
        return _as_dict(row[0]) | {"dataset": row[1], "counts": _sweep_counts(session, [sweep_id]).get(sweep_id, {})}


def list_sweeps(statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Give back the sweeps, newest first, each with its data set's name and its trials' counts by status."""
    with session_scope() as session:
        query = select(Sweep, Dataset.name).join(Dataset, Dataset.id == Sweep.dataset_id).order_by(Sweep.id.desc())
        if statuses:
            query = query.where(Sweep.status.in_(list(statuses)))
        sweeps = [_as_dict(sweep) | {"dataset": name} for sweep, name in session.execute(query)]
        counts = _sweep_counts(session, [s["id"] for s in sweeps]) if sweeps else {}
        for sweep in sweeps:
            sweep["counts"] = counts.get(sweep["id"], {})
        return sweeps


def sweep_runs(sweep_id: int) -> list[dict[str, Any]]:
    """Give back a sweep's trial runs in trial order, each with its metric summaries."""
    with session_scope() as session:
        runs = [_as_dict(run) for run in session.scalars(
            select(Run).where(Run.sweep_id == sweep_id).order_by(Run.trial_number, Run.id))]
        summaries = summaries_in(session, [run["id"] for run in runs]) if runs else {}
        for run in runs:
            run["metrics"] = summaries.get(run["id"], {})
        return runs


def sweep_names(sweep_ids: Iterable[int]) -> dict[int, str]:
    """Give back {sweep id: its name} for the runs lists."""
    ids = [i for i in set(sweep_ids) if i is not None]
    if not ids:
        return {}
    with session_scope() as session:
        return {i: name or f"Sweep {i}" for i, name in session.execute(
            select(Sweep.id, Sweep.name).where(Sweep.id.in_(ids)))}


def request_sweep_cancel(sweep_id: int) -> None:
    actor = access.require("cancel")
    with session_scope(write=True) as session:
        access.record(session, "cancel", f"sweep {sweep_id}", None, actor)
        session.execute(update(Sweep).where(Sweep.id == sweep_id).values(cancel_requested=True))


def finish_sweep(sweep_id: int, status: str, outcome: str | None) -> bool:
    """Mark a running sweep completed or cancelled with its closing sentence; give back False if it had ended."""
    with session_scope(write=True) as session:
        return bool(session.execute(
            update(Sweep).where(Sweep.id == sweep_id, Sweep.status == SweepStatus.RUNNING)
            .values(status=status, outcome=outcome, finished_at=utcnow())).rowcount)
