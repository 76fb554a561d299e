"""Archiving and deleting runs, and deleting a data set with what depends on it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, delete, func, select, update

from db import access
from db.models import (ACTIVE, Artifact, Dataset, Metric, MetricExtreme, MetricSummary, Run, RunEvent, RunStatus,
                       utcnow)
from db.session import run_folder, session_scope, trainyard_home


def archive_runs(run_ids: Sequence[int], archived: bool = True) -> list[int]:
    """Archive (hide from the list, keeping everything) or restore runs; give back the ids that changed.

    Runs that wait or train are never archived.
    """
    ids = [int(i) for i in run_ids]
    actor = access.require("edit")
    with session_scope(write=True) as session:
        if archived:
            condition = and_(Run.id.in_(ids), Run.archived_at.is_(None), Run.status.not_in(ACTIVE))
        else:
            condition = and_(Run.id.in_(ids), Run.archived_at.is_not(None))
        changed = list(session.scalars(select(Run.id).where(condition)))
        if changed:
            session.execute(update(Run).where(Run.id.in_(changed))
                            .values(archived_at=utcnow() if archived else None))
            for run_id in changed:
                session.add(RunEvent(run_id=run_id, kind="status", message="Archived" if archived else "Restored"))
            access.record(session, "archive", f"runs {', '.join(map(str, sorted(changed)))}",
                          None if archived else "restored", actor)
        return sorted(changed)


@dataclass(frozen=True)
class DeleteOutcome:
    deleted: list[int]
    training: list[int]  # left alone: cancel them first


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (OSError, ValueError):
        return False


def delete_runs(run_ids: Sequence[int]) -> DeleteOutcome:
    """Delete runs with their metrics, history and files; runs that are training are left alone.

    The database rows go in one transaction; the files under $TRAINYARD_HOME/runs/<id>/ (and recorded
    files elsewhere inside $TRAINYARD_HOME) are removed after it commits.
    """
    ids = [int(i) for i in run_ids]
    home = trainyard_home()
    actor = access.require("delete")
    with session_scope(write=True) as session:
        found = dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(ids)).with_for_update()).all())
        training = sorted(i for i, status in found.items() if status == RunStatus.RUNNING)
        doomed = sorted(i for i in found if i not in training)
        paths = [Path(p) for p in session.scalars(select(Artifact.path).where(Artifact.run_id.in_(doomed)))]
        if doomed:
            session.execute(update(Run).where(Run.parent_run_id.in_(doomed)).values(parent_run_id=None))
            for table in (Metric, MetricExtreme, MetricSummary, Artifact, RunEvent):
                session.execute(delete(table).where(table.run_id.in_(doomed)))
            session.execute(delete(Run).where(Run.id.in_(doomed), Run.status != RunStatus.RUNNING))
            access.record(session, "delete_run", f"runs {', '.join(map(str, doomed))}", None, actor)
    for path in paths:
        if _inside(path, home) and path.is_file():
            path.unlink(missing_ok=True)
    for run_id in doomed:
        folder = run_folder(run_id)
        if folder.is_dir() and _inside(folder, home / "runs"):
            shutil.rmtree(folder, ignore_errors=True)
    return DeleteOutcome(deleted=doomed, training=training)


@dataclass(frozen=True)
class DatasetDependents:
    runs: list[int]  # every run trained on the data set, deleted with it
    active: list[int]  # of those, the ones waiting or training: the data set cannot go while they do
    sweeps: list[int]
    versions: list[int]  # cleaned versions made from it: they stay, no longer linked to it

    def sentence(self, done: bool = False) -> str:
        """Give back, in words, what deleting a data set takes with it, or took when done (the command line and the
        Data sets page say the same)."""
        parts = []
        if self.runs:
            parts.append(f"{len(self.runs)} run{'s' if len(self.runs) > 1 else ''} trained on it "
                         f"({', '.join(map(str, self.runs))}), with their results and models")
        if self.sweeps:
            parts.append(f"{len(self.sweeps)} sweep{'s' if len(self.sweeps) > 1 else ''}")
        if parts:
            taken = f"{'Also deleted' if done else 'It also deletes'}: {' and '.join(parts)}."
        else:
            taken = "No run was trained on it."
        if self.versions:
            taken += (f" Its cleaned version{'s' if len(self.versions) > 1 else ''} "
                      f"({', '.join(map(str, self.versions))}) {'were kept' if done else 'stay'}.")
        return taken


def dataset_dependents(dataset_id: int) -> DatasetDependents:
    """Give back what depends on a data set, to be shown before it is deleted."""
    from db.models import Sweep

    with session_scope() as session:
        runs = dict(session.execute(select(Run.id, Run.status).where(Run.dataset_id == dataset_id)).all())
        sweeps = list(session.scalars(select(Sweep.id).where(Sweep.dataset_id == dataset_id)))
        versions = list(session.scalars(select(Dataset.id).where(Dataset.parent_id == dataset_id)))
    return DatasetDependents(runs=sorted(runs), active=sorted(i for i, s in runs.items() if s in ACTIVE),
                             sweeps=sorted(sweeps), versions=sorted(versions))


def delete_dataset(dataset_id: int) -> DatasetDependents:
    """Delete a data set with its files, the runs trained on it (their curves and files) and its sweeps; its
    cleaned versions stay. Nothing is deleted while one of its runs waits or trains (ValueError saying so)."""
    from db.models import Sweep

    actor = access.require("delete")
    dependents = dataset_dependents(dataset_id)
    if dependents.active:
        raise ValueError(f"Runs {', '.join(map(str, dependents.active))} are waiting or training on this data set. "
                         "Cancel them (or let them finish) first.")
    delete_runs(dependents.runs)
    home = trainyard_home()
    with session_scope(write=True) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return dependents
        if session.scalar(select(func.count()).select_from(Run).where(Run.dataset_id == dataset_id)):
            raise ValueError("A run was started on this data set a moment ago; it was not deleted. Try again once "
                             "that run has finished or been cancelled.")
        folder = Path(dataset.files_path)
        session.execute(update(Run).where(Run.sweep_id.in_(dependents.sweeps)).values(sweep_id=None))
        session.execute(delete(Sweep).where(Sweep.dataset_id == dataset_id))
        session.execute(update(Dataset).where(Dataset.parent_id == dataset_id).values(parent_id=None))
        access.record(session, "delete_dataset", f"data set {dataset_id} '{dataset.name}'", dependents.sentence(True),
                      actor)
        session.delete(dataset)
    if folder.is_dir() and _inside(folder, home / "datasets") and folder.resolve() != (home / "datasets").resolve():
        shutil.rmtree(folder, ignore_errors=True)
    return dependents
