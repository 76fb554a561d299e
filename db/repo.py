"""Repositories: every read and write of the database, giving back plain dicts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, inspect, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from db import access
from db.models import (
    FINISHED,
    Artifact,
    Dataset,
    Metric,
    MetricSummary,
    Run,
    RunEvent,
    RunMachine,
    RunStatus,
    Sweep,
    SweepStatus,
    Worker,
    utcnow,
)
from db.session import get_engine, session_scope



def _as_dict(row) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in inspect(row).mapper.column_attrs}


# ---------------------------------------------------------------- data sets


def create_dataset(**fields: Any) -> dict[str, Any]:
    """Insert a data set row and give it back (editors and admins: db.access)."""
    actor = access.require("upload")
    with session_scope(write=True) as session:
        dataset = Dataset(created_by=actor.email, **fields)
        session.add(dataset)
        session.flush()
        access.record(session, "upload", f"data set {dataset.id} '{dataset.name}'",
                      f"{dataset.kind}, {dataset.n_rows:,} rows" + (f", cleaned from {dataset.parent_id}"
                                                                     if dataset.parent_id else ""), actor)
        return _as_dict(dataset)


def list_datasets() -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc()))
        return [_as_dict(row) for row in rows]


def get_dataset(name_or_id: int | str) -> dict[str, Any] | None:
    """Give back the data set with this id or name, or None."""
    with session_scope() as session:
        dataset = None
        if isinstance(name_or_id, int) or str(name_or_id).isdigit():
            dataset = session.get(Dataset, int(name_or_id))
        if dataset is None:
            dataset = session.scalar(select(Dataset).where(Dataset.name == str(name_or_id)))
        return _as_dict(dataset) if dataset else None


def dataset_name_taken(name: str) -> bool:
    with session_scope() as session:
        return session.scalar(select(func.count()).where(Dataset.name == name)) > 0


# ---------------------------------------------------------------- workers


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


# ---------------------------------------------------------------- runs


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


# ---------------------------------------------------------------- metrics


def _insert_for_dialect():
    return postgresql.insert if get_engine().dialect.name == "postgresql" else sqlite.insert


def log_metrics(run_id: int, points: Sequence[tuple[str, int, float, float | None, float]]) -> int:
    """Store (key, step, value, epoch, wall_time) points and their per-key summary in one transaction.

    Non-finite values are skipped. Gives back how many points were stored.
    """
    rows = [
        {"run_id": run_id, "key": key, "step": int(step), "value": float(value),
         "epoch": None if epoch is None else float(epoch), "wall_time": float(wall_time)}
        for key, step, value, epoch, wall_time in points
        if value is not None and math.isfinite(value)
    ]
    if not rows:
        return 0
    insert = _insert_for_dialect()
    with session_scope(write=True) as session:
        statement = insert(Metric)
        statement = statement.on_conflict_do_update(
            index_elements=["run_id", "key", "step"],
            set_={"value": statement.excluded.value, "epoch": statement.excluded.epoch,
                  "wall_time": statement.excluded.wall_time},
        )
        session.execute(statement, rows)
        keys = {row["key"] for row in rows}
        existing = {
            s.key: s for s in session.scalars(
                select(MetricSummary).where(MetricSummary.run_id == run_id, MetricSummary.key.in_(keys))
            )
        }
        for row in rows:
            summary = existing.get(row["key"])
            if summary is None:
                summary = MetricSummary(
                    run_id=run_id, key=row["key"], last_value=row["value"], last_step=row["step"],
                    min_value=row["value"], min_step=row["step"], max_value=row["value"],
                    max_step=row["step"], count=0,
                )
                session.add(summary)
                existing[row["key"]] = summary
            if row["step"] >= summary.last_step:
                summary.last_value, summary.last_step = row["value"], row["step"]
            if row["value"] < summary.min_value:
                summary.min_value, summary.min_step = row["value"], row["step"]
            if row["value"] > summary.max_value:
                summary.max_value, summary.max_step = row["value"], row["step"]
            summary.count += 1
    return len(rows)


def replace_metrics(run_id: int, points: Sequence[tuple[str, int, float, float | None, float]]) -> int:
    """Store points in place of every earlier point of their keys (a final figure computed once more, better)."""
    from db.models import MetricExtreme

    keys = sorted({key for key, *_ in points})
    with session_scope(write=True) as session:
        for table in (Metric, MetricSummary, MetricExtreme):
            session.execute(delete(table).where(table.run_id == run_id, table.key.in_(keys)))
    return log_metrics(run_id, points)


def delete_metrics_after(run_id: int, step: int) -> None:
    """Drop points logged after step, so a resumed run continues without duplicates, and rebuild summaries."""
    with session_scope(write=True) as session:
        session.execute(delete(Metric).where(Metric.run_id == run_id, Metric.step > step))
        session.execute(delete(MetricSummary).where(MetricSummary.run_id == run_id))
        keys = session.scalars(select(Metric.key).where(Metric.run_id == run_id).distinct()).all()
        for key in keys:
            points = session.execute(
                select(Metric.step, Metric.value).where(Metric.run_id == run_id, Metric.key == key)
                .order_by(Metric.step)
            ).all()
            low = min(points, key=lambda p: p.value)
            high = max(points, key=lambda p: p.value)
            session.add(MetricSummary(
                run_id=run_id, key=key, last_value=points[-1].value, last_step=points[-1].step,
                min_value=low.value, min_step=low.step, max_value=high.value, max_step=high.step,
                count=len(points),
            ))


_HIGHER_WORDS = {"accuracy", "acc", "f1", "precision", "recall", "r2", "auc", "ndcg", "hit", "hits", "map",
                 "score", "coverage"}


def higher_is_better(key: str) -> bool:
    """Give back True when a larger value of this metric is a better result (accuracy), False for errors."""
    return key.endswith("per_second") or bool(_HIGHER_WORDS & set(key.lower().split("_")))


def summaries_in(session, run_ids: Sequence[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Give back {run id: {key: its summary}} for the runs, read in the given session."""
    result: dict[int, dict[str, dict[str, Any]]] = {}
    if not run_ids:
        return result
    for s in session.scalars(select(MetricSummary).where(MetricSummary.run_id.in_(list(run_ids)))):
        higher = higher_is_better(s.key)
        result.setdefault(s.run_id, {})[s.key] = {
            "last": s.last_value, "last_step": s.last_step, "min": s.min_value, "min_step": s.min_step,
            "max": s.max_value, "max_step": s.max_step, "count": s.count,
            "best": s.max_value if higher else s.min_value, "best_step": s.max_step if higher else s.min_step,
        }
    return result


def metric_summaries(run_id: int) -> dict[str, dict[str, Any]]:
    """Give back {key: {last, min, max, best, best_step, count, ...}} for one run, without reading its history."""
    with session_scope() as session:
        return summaries_in(session, [run_id]).get(run_id, {})


def metric_history(run_id: int, key: str | None = None) -> list[dict[str, Any]]:
    """Give back every stored point of a run (optionally of one key), ordered by key and step."""
    with session_scope() as session:
        query = select(Metric).where(Metric.run_id == run_id)
        if key:
            query = query.where(Metric.key == key)
        rows = session.scalars(query.order_by(Metric.key, Metric.step))
        return [
            {"key": m.key, "step": m.step, "epoch": m.epoch, "value": m.value, "time": m.wall_time}
            for m in rows
        ]


def run_summary(run_id: int) -> dict[str, float]:
    """Give back the flat final metrics of a run: the last value of each logged key."""
    return {key: s["last"] for key, s in metric_summaries(run_id).items()}


# ---------------------------------------------------------------- events and artifacts


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


# ---------------------------------------------------------------- sweeps


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
