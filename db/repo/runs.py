"""Runs: queueing, reading and listing them, progress, finishing, cancelling, queueing again, and
marking stale ones interrupted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from db import access
from db.models import FINISHED, Artifact, Dataset, Metric, MetricSummary, Run, RunEvent, RunStatus, utcnow
from db.repo.common import _as_dict
from db.repo.metrics import summaries_in
from db.session import session_scope


def create_run(dataset_id: int, model: str, config: dict[str, Any], name: str | None = None,
               parent_run_id: int | None = None, tags: list[str] | None = None, sweep_id: int | None = None,
               trial_number: int | None = None) -> dict[str, Any]:
    """Queue a new run and give it back; a sweep's trial names its sweep and its trial's number.

    A person's run needs the editor role (db.access); a sweep's trials were allowed with their sweep.
    """
    actor = access.current_actor() if sweep_id else access.require("train")
    with session_scope(write=True) as session:
        run = Run(
            dataset_id=dataset_id, model=model, config=config, name=name, status=RunStatus.QUEUED,
            parent_run_id=parent_run_id, tags=tags or [], environment={}, sweep_id=sweep_id,
            trial_number=trial_number, created_by=actor.email,
        )
        session.add(run)
        session.flush()
        session.add(RunEvent(run_id=run.id, kind="status", message="Queued"))
        if not sweep_id:
            access.record(session, "train", f"run {run.id}", f"{model} on data set {dataset_id}", actor)
        return _as_dict(run)


def get_run(run_id: int) -> dict[str, Any] | None:
    """Give back the run with its data set's name, kind, task and number of rows, or None."""
    with session_scope() as session:
        row = session.execute(
            select(Run, Dataset.name, Dataset.kind, Dataset.task, Dataset.n_rows)
            .join(Dataset, Dataset.id == Run.dataset_id).where(Run.id == run_id)
        ).first()
        if row is None:
            return None
        run = _as_dict(row[0])
        run.update(dataset=row[1], dataset_kind=row[2], dataset_task=row[3], dataset_rows=row[4])
        return run


def list_runs(limit: int = 500, statuses: Iterable[str] | None = None,
              with_metrics: bool = True) -> list[dict[str, Any]]:
    """Give back runs, newest first, each with its data set name and (with_metrics) its metric summaries."""
    with session_scope() as session:
        query = (
            select(Run, Dataset.name)
            .join(Dataset, Dataset.id == Run.dataset_id)
            .order_by(Run.created_at.desc(), Run.id.desc())
            .limit(limit)
        )
        if statuses:
            query = query.where(Run.status.in_(list(statuses)))
        runs = []
        for run, dataset_name in session.execute(query):
            item = _as_dict(run)
            item["dataset"] = dataset_name
            runs.append(item)
        if runs and with_metrics:
            summaries = summaries_in(session, [run["id"] for run in runs])
            for run in runs:
                run["metrics"] = summaries.get(run["id"], {})
        return runs


def heartbeat_run(run_id: int) -> None:
    """Mark a run that no worker looks after as alive (its first process does it, see engine.jobs.launch)."""
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING)
                        .values(heartbeat_at=utcnow()))


def queue_positions() -> dict[int, int]:
    """Give back {run_id: place in the queue, 1 = next} for every queued run."""
    with session_scope() as session:
        ids = session.scalars(select(Run.id).where(Run.status == RunStatus.QUEUED).order_by(Run.created_at, Run.id))
        return {run_id: place for place, run_id in enumerate(ids, start=1)}


def set_run_process(run_id: int, pid: int) -> None:
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run_id).values(pid=pid))


def set_run_environment(run_id: int, device: str, environment: dict[str, Any]) -> None:
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run_id).values(device=device, environment=environment))


def update_progress(run_id: int, progress: float, eta_seconds: float | None) -> None:
    progress = min(max(float(progress), 0.0), 1.0)
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run_id).values(progress=progress, eta_seconds=eta_seconds))


def finish_run(run_id: int, status: str, error: str | None = None, attempt: int | None = None) -> bool:
    """Move a running run to a final (or interrupted) status; give back False if it had already ended.

    With attempt, only that try of the run: a process of an earlier try that ends late changes nothing.
    """
    with session_scope(write=True) as session:
        values: dict[str, Any] = {"status": status, "error": error, "eta_seconds": None}
        if status in FINISHED:
            values["finished_at"] = utcnow()
        if status == RunStatus.COMPLETED:
            values["progress"] = 1.0
        which = [Run.id == run_id, Run.status.in_((RunStatus.RUNNING, RunStatus.QUEUED))]
        if attempt is not None:
            which.append(Run.attempts == attempt)
        changed = session.execute(update(Run).where(*which).values(**values)).rowcount
        if changed:
            message = {RunStatus.COMPLETED: "Completed", RunStatus.FAILED: "Failed", RunStatus.CANCELLED: "Cancelled",
                       RunStatus.INTERRUPTED: "Interrupted",
                       RunStatus.PRUNED: "Stopped early by the sweep"}.get(status, status)
            session.add(RunEvent(run_id=run_id, kind="status", level="error" if status == RunStatus.FAILED else "info",
                                 message=f"{message}: {error}" if error else message))
        return bool(changed)


def request_cancel(run_id: int, by_person: bool = True) -> str:
    """Cancel a queued run at once, or ask the worker to stop a running one.

    Gives back 'cancelled', 'requested' or the status the run already had. A person needs the editor role
    (db.access) and is named in the audit trail; a sweep stopping its own trials (by_person=False) is not.
    """
    actor = access.require("cancel") if by_person else None
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise KeyError(run_id)
        if actor is not None and run.status in (RunStatus.QUEUED, RunStatus.INTERRUPTED, RunStatus.RUNNING):
            access.record(session, "cancel", f"run {run_id}", None, actor)
        if run.status in (RunStatus.QUEUED, RunStatus.INTERRUPTED):
            run.status = RunStatus.CANCELLED
            run.finished_at = utcnow()
            session.add(RunEvent(run_id=run_id, kind="status", message="Cancelled before it ran"))
            return RunStatus.CANCELLED
        if run.status == RunStatus.RUNNING:
            run.cancel_requested = True
            session.add(RunEvent(run_id=run_id, kind="status", message="Cancel requested"))
            return "requested"
        return run.status


def cancel_requested(run_ids: Sequence[int]) -> list[int]:
    if not run_ids:
        return []
    with session_scope() as session:
        return list(session.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested)))


def requeue_run(run_id: int, fresh: bool = False, by_person: bool = True) -> bool:
    """Queue an ended run again; give back False when it is still queued or running.

    An interrupted run resumes from its last checkpoint. With fresh=True (or for a failed or cancelled
    run) it starts over: its metrics are cleared and the caller removes its checkpoint. A person needs the
    editor role and is named in the audit trail; a worker resuming a run it lost (by_person=False) is not.
    """
    actor = access.require("edit") if by_person else None
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        if run is None or run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            return False
        if actor is not None:
            access.record(session, "queue_again", f"run {run_id}", "to start over" if fresh else None, actor)
        starts_over = fresh or run.status != RunStatus.INTERRUPTED
        if starts_over:
            session.execute(delete(Metric).where(Metric.run_id == run_id))
            session.execute(delete(MetricSummary).where(MetricSummary.run_id == run_id))
            session.execute(delete(Artifact).where(Artifact.run_id == run_id))
        run.status = RunStatus.QUEUED
        run.cancel_requested = False
        run.pid = None
        run.worker_id = None
        run.error = None
        run.finished_at = None
        run.eta_seconds = None
        if starts_over:
            run.progress = 0.0
            run.attempts = 0
        session.add(RunEvent(run_id=run_id, kind="status",
                             message="Queued again to start over" if starts_over else "Queued again to resume"))
        return True


def mark_stale_runs_interrupted(max_age_seconds: float, dead_worker_ids: Sequence[int] = ()) -> list[int]:
    """Mark running runs whose heartbeat is too old, or whose worker is gone, as interrupted."""
    since = utcnow() - timedelta(seconds=max_age_seconds)
    with session_scope(write=True) as session:
        condition = or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < since)
        if dead_worker_ids:
            condition = or_(condition, Run.worker_id.in_(list(dead_worker_ids)))
        stale = list(session.scalars(select(Run.id).where(Run.status == RunStatus.RUNNING, condition)))
        if stale:
            session.execute(
                update(Run).where(Run.id.in_(stale), Run.status == RunStatus.RUNNING)
                .values(status=RunStatus.INTERRUPTED, eta_seconds=None,
                        error="The worker training this run stopped answering.")
            )
            for run_id in stale:
                session.add(RunEvent(run_id=run_id, kind="status", level="warning",
                                     message="Interrupted: the worker training this run stopped answering"))
        return stale
