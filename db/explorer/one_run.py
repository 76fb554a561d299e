"""One run: overfitting, status history, duration, name/notes/tags, and its exports (JSON, CSV, files)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from db import access
from db.csv_export import csv_text
from db.explorer.common import clean_tags, metric_order
from db.models import ACTIVE, Artifact, Metric, Run, RunEvent, RunStatus, datetime_iso, utcnow
from db.repo import get_run, higher_is_better, metric_summaries
from db.session import session_scope


# The validation figure a run is judged by, in the order looked for: the task's score (what keep-best watches
# with early_stopping_metric "val_score"), then the loss.
JUDGED_FIGURES = ("val_accuracy", "val_rmse", "val_loss")
# Worse at the end than at the best epoch by more than this share of the best value: not noise.
OVERFIT_MARGIN = 0.02


def overfitting(run: dict[str, Any]) -> dict[str, Any] | None:
    """Give back what a finished run lost by not keeping its best epoch: {key, higher_is_better, best,
    best_epoch, last, last_epoch}, or None when it kept the best epoch, is still training, or its validation
    figure ended within OVERFIT_MARGIN of its best.

    The one reading of a run's validation history behind the run page's and the Evaluate page's note.
    """
    if run["status"] in ACTIVE or ((run.get("config") or {}).get("training") or {}).get("keep_best"):
        return None
    summaries = metric_summaries(run["id"])
    key = next((k for k in JUDGED_FIGURES if summaries.get(k, {}).get("count", 0) > 1), None)
    if key is None:
        return None
    summary, higher = summaries[key], higher_is_better(key)
    best, last = summary["best"], summary["last"]
    lost = best - last if higher else last - best
    if summary["best_step"] >= summary["last_step"] or lost <= OVERFIT_MARGIN * abs(best):
        return None
    with session_scope() as session:
        epochs = dict(session.execute(select(Metric.step, Metric.epoch).where(
            Metric.run_id == run["id"], Metric.key == key,
            Metric.step.in_([summary["best_step"], summary["last_step"]]))).all())

    def epoch(step: int) -> int | float:
        value = epochs.get(step)
        return step if value is None else round(value) if abs(value - round(value)) < 1e-6 else round(value, 2)

    return {"key": key, "higher_is_better": higher, "best": best, "best_epoch": epoch(summary["best_step"]),
            "last": last, "last_epoch": epoch(summary["last_step"])}


def keep_best_config(config: dict[str, Any], key: str) -> dict[str, Any]:
    """Give back a copy of a run's settings that keeps the epoch with the best value of validation figure key."""
    training = dict(config.get("training") or {})
    training.update(keep_best=True, early_stopping_metric="val_loss" if key == "val_loss" else "val_score")
    return {**config, "training": training}


def status_history(run_id: int) -> list[dict[str, Any]]:
    """Give back the run's status changes, oldest first, each with {time, message, level}."""
    with session_scope() as session:
        rows = session.execute(
            select(RunEvent.time, RunEvent.message, RunEvent.level)
            .where(RunEvent.run_id == run_id, RunEvent.kind == "status").order_by(RunEvent.id))
        return [dict(row._mapping) for row in rows]


def run_seconds(run: dict[str, Any], now: datetime | None = None) -> float | None:
    """Give back how long the run trained: start to end, or to now (or its last sign of life) if it has not ended."""
    if not run.get("started_at"):
        return None
    end = run.get("finished_at")
    if end is None:
        end = (now or utcnow()) if run["status"] == RunStatus.RUNNING else run.get("heartbeat_at")
    return max(0.0, (end - run["started_at"]).total_seconds()) if end else None


def update_run_details(run_id: int, name: str | None, notes: str | None, tags: Iterable[str] | str) -> dict[str, Any]:
    """Save a run's name, notes and tags; give back what was stored."""
    values = {"name": (name or "").strip()[:200] or None, "notes": (notes or "").strip() or None,
              "tags": clean_tags(tags)}
    access.require("edit")
    with session_scope(write=True) as session:
        if not session.execute(update(Run).where(Run.id == run_id).values(**values)).rowcount:
            raise KeyError(run_id)
    return values


def run_document(run_id: int) -> dict[str, Any]:
    """Give back the run's summary as one JSON-ready document: settings, times and final and best metrics."""
    run = get_run(run_id)
    if run is None:
        raise KeyError(run_id)
    summaries = metric_summaries(run_id)
    keys = ("id", "name", "status", "dataset", "dataset_id", "model", "config", "error", "device", "worker_host",
            "created_at", "started_at", "finished_at", "parent_run_id", "tags", "notes", "environment")
    document = {k: run.get(k) for k in keys}
    for k in ("created_at", "started_at", "finished_at"):
        document[k] = datetime_iso(document[k])
    document["duration_seconds"] = run_seconds(run)
    document["summary"] = {k: summaries[k]["last"] for k in metric_order(summaries)}
    document["best"] = {k: {"value": summaries[k]["best"], "step": summaries[k]["best_step"],
                            "higher_is_better": higher_is_better(k)} for k in metric_order(summaries)}
    return document


def metrics_csv(run_id: int, key: str | None = None) -> str:
    """Give back every stored point of a run as CSV text: key, step, epoch, value, time."""
    with session_scope() as session:
        query = select(Metric.key, Metric.step, Metric.epoch, Metric.value, Metric.wall_time).where(
            Metric.run_id == run_id)
        if key:
            query = query.where(Metric.key == key)
        rows = session.execute(query.order_by(Metric.key, Metric.step).execution_options(yield_per=20_000))
        return csv_text(["key", "step", "epoch", "value", "time"], rows)


def run_files(run_id: int) -> list[dict[str, Any]]:
    """Give back the run's recorded files that still exist on disk, each with kind, path, name and size."""
    with session_scope() as session:
        rows = session.execute(
            select(Artifact.kind, Artifact.path, Artifact.bytes, Artifact.created_at)
            .where(Artifact.run_id == run_id).order_by(Artifact.id))
        files = []
        for row in rows:
            path = Path(row.path)
            if path.is_file():
                files.append({"kind": row.kind, "path": path, "name": path.name, "bytes": path.stat().st_size,
                              "created_at": row.created_at})
        return files
