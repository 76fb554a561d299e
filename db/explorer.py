"""Queries behind the runs explorer: filtered pages of runs, down-sampled curves, comparisons, clean-up.

Every function gives back plain dicts and lists, like db/repo.py.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, and_, cast, delete, exists, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from db import access
from db.repo import get_run, higher_is_better, metric_summaries, summaries_in  # noqa: F401  (read here too)
from db.csv_export import csv_text
from db.models import (ACTIVE, Artifact, Dataset, Metric, MetricExtreme, MetricSummary, Run, RunEvent, RunStatus,
                       datetime_iso, utcnow)
from db.session import run_folder, session_scope, trainyard_home

log = logging.getLogger(__name__)

POINTS_PER_CURVE = 1500
# Curves longer than this keep the extremes of each block of about BLOCK_POINTS points in
# metric_extremes, so drawing them reads a few percent of their points.
RAW_LIMIT = 50_000
BLOCK_POINTS = 64
# The newest points stay raw until this many blocks have filled, so a live chart rarely writes.
TAIL_BLOCKS = 16

RESULT_PREFIXES = ("train_", "val_", "test_")
FIRST_KEYS = ("test_accuracy", "reference_accuracy", "val_accuracy", "test_f1_macro", "test_rmse", "reference_rmse",
              "val_rmse", "val_loss", "train_loss", "test_mae", "val_mae", "train_accuracy")


def is_result(key: str) -> bool:
    """Give back True for a result of training (a training, validation or test loss or score), False for a
    setting or a system figure logged along (learning rate, memory, CPU use, speed)."""
    return key.startswith(RESULT_PREFIXES) and not key.endswith(("seconds", "per_second"))


def metric_order(keys: Iterable[str]) -> list[str]:
    """Give back metric keys with the usual results first, then the rest alphabetically."""
    keys = set(keys)
    return [k for k in FIRST_KEYS if k in keys] + sorted(keys - set(FIRST_KEYS))


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    """Give back tags trimmed, without empties or repeats, at most 20 of at most 50 characters."""
    if isinstance(tags, str):
        tags = tags.split(",")
    seen: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())[:50]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:20]


def _like(text_: str) -> str:
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---------------------------------------------------------------- the runs list


@dataclass(frozen=True)
class RunFilters:
    """What the runs list shows. Empty choices mean "any"; best_ranges hold (key, low, high) on each
    run's best value of that metric, either bound None for open."""

    search: str = ""
    dataset_ids: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created_from: date | None = None
    created_to: date | None = None
    best_ranges: tuple[tuple[str, float | None, float | None], ...] = ()
    archived: bool = False


@dataclass(frozen=True)
class RunsPage:
    runs: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int


LIST_COLUMNS = (Run.id, Run.name, Run.dataset_id, Run.model, Run.status, Run.progress, Run.created_at,
                Run.started_at, Run.finished_at, Run.heartbeat_at, Run.eta_seconds, Run.device, Run.tags,
                Run.parent_run_id, Run.archived_at, Run.sweep_id, Run.trial_number)


def _best_column(summary, key: str):
    return summary.max_value if higher_is_better(key) else summary.min_value


def _conditions(filters: RunFilters) -> list:
    conditions = [Run.archived_at.is_not(None) if filters.archived else Run.archived_at.is_(None)]
    search = filters.search.strip()
    if search:
        pattern = _like(search)
        matches = [Run.name.ilike(pattern, escape="\\"), Run.model.ilike(pattern, escape="\\"),
                   Dataset.name.ilike(pattern, escape="\\")]
        if search.lstrip("#").isdigit():
            matches.append(Run.id == int(search.lstrip("#")))
        conditions.append(or_(*matches))
    if filters.dataset_ids:
        conditions.append(Run.dataset_id.in_(filters.dataset_ids))
    if filters.models:
        conditions.append(Run.model.in_(filters.models))
    if filters.statuses:
        conditions.append(Run.status.in_(filters.statuses))
    if filters.tags:
        # Tags are a JSON list; its text holds each tag JSON-encoded, quotes included.
        tags_text = cast(Run.tags, String)
        conditions.append(or_(*(tags_text.like(_like(json.dumps(tag)), escape="\\") for tag in filters.tags)))
    if filters.created_from:
        conditions.append(Run.created_at >= datetime.combine(filters.created_from, time.min))
    if filters.created_to:
        conditions.append(Run.created_at < datetime.combine(filters.created_to + timedelta(days=1), time.min))
    for key, low, high in filters.best_ranges:
        summary = aliased(MetricSummary)
        best = _best_column(summary, key)
        bounds = [summary.run_id == Run.id, summary.key == key]
        if low is not None:
            bounds.append(best >= low)
        if high is not None:
            bounds.append(best <= high)
        conditions.append(exists().where(*bounds))
    return conditions


def _order(query, sort: str):
    if sort.startswith("best:"):
        key = sort[len("best:"):]
        summary = aliased(MetricSummary)
        query = query.outerjoin(summary, and_(summary.run_id == Run.id, summary.key == key))
        best = _best_column(summary, key)
        return query.order_by((best.desc() if higher_is_better(key) else best.asc()).nulls_last(), Run.id.desc())
    if sort == "oldest":
        return query.order_by(Run.created_at.asc(), Run.id.asc())
    if sort == "name":
        return query.order_by(func.lower(Run.name).asc().nulls_last(), Run.id.desc())
    return query.order_by(Run.created_at.desc(), Run.id.desc())


def find_runs(filters: RunFilters = RunFilters(), sort: str = "newest", page: int = 1,
              per_page: int = 50) -> RunsPage:
    """Give back one page of the runs that pass filters, in sort order, each with its metric summaries.

    sort is "newest", "oldest", "name" or "best:<metric key>" (best value first, runs without it last).
    """
    conditions = _conditions(filters)
    with session_scope() as session:
        counted = select(func.count()).select_from(Run)
        if filters.search.strip():  # the search looks at data set names too
            counted = counted.join(Dataset, Dataset.id == Run.dataset_id)
        total = session.scalar(counted.where(*conditions))
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        query = select(*LIST_COLUMNS, Dataset.name.label("dataset")).join(Dataset, Dataset.id == Run.dataset_id)
        query = _order(query.where(*conditions), sort).limit(per_page).offset((page - 1) * per_page)
        runs = [dict(row._mapping) for row in session.execute(query)]
        summaries = summaries_in(session, [run["id"] for run in runs])
    for run in runs:
        run["metrics"] = summaries.get(run["id"], {})
    return RunsPage(runs=runs, total=total, page=page, pages=pages, per_page=per_page)


def active_runs() -> int:
    """Give back how many runs are waiting or training."""
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Run).where(Run.status.in_(ACTIVE)))


def filter_choices() -> dict[str, Any]:
    """Give back what the list's filters offer: data sets, models, tags, and each metric's range of best values."""
    with session_scope() as session:
        datasets = [dict(row._mapping) for row in session.execute(
            select(Dataset.id, Dataset.name).where(exists().where(Run.dataset_id == Dataset.id))
            .order_by(Dataset.name))]
        models = list(session.scalars(select(Run.model).distinct().order_by(Run.model)))
        tags: set[str] = set()
        for row_tags in session.scalars(select(cast(Run.tags, String)).distinct()):
            tags.update(json.loads(row_tags) if row_tags else [])
        metrics = {}
        for row in session.execute(
            select(MetricSummary.key, func.count(), func.min(MetricSummary.min_value),
                   func.max(MetricSummary.min_value), func.min(MetricSummary.max_value),
                   func.max(MetricSummary.max_value)).group_by(MetricSummary.key)
        ):
            key, runs, low_min, high_min, low_max, high_max = row
            low, high = (low_max, high_max) if higher_is_better(key) else (low_min, high_min)
            metrics[key] = {"runs": runs, "low": low, "high": high, "higher_is_better": higher_is_better(key)}
    return {"datasets": datasets, "models": models, "tags": sorted(tags, key=str.lower),
            "metrics": {key: metrics[key] for key in metric_order(metrics)}}


# ---------------------------------------------------------------- down-sampled curves

# For each bucket of `width` steps between :low and :high, the step of its lowest and of its highest
# point. Each bucket is read through the primary key (run_id, key, step), so nothing is sorted but a
# bucket's own points, and a curve of a million points costs what its buckets hold. Plain SQL with a
# recursive common table expression: the same text runs on SQLite and PostgreSQL. The points
# themselves are fetched by step in a second query: joining them here lets PostgreSQL, before it has
# statistics on a fresh table, pick a plan that compares every point with every picked step.
_EXTREME_STEPS_SQL = """
WITH RECURSIVE buckets(start) AS (
    SELECT CAST(:grid_start AS BIGINT)
    UNION ALL
    SELECT start + :width FROM buckets WHERE start + :width < :high
)
SELECT
    (SELECT p.step FROM {table} p
     WHERE p.run_id = :run_id AND p.key = :key AND p.step >= buckets.start AND p.step < buckets.start + :width
       AND p.step >= :low AND p.step < :high
     ORDER BY p.value, p.step LIMIT 1) AS low_step,
    (SELECT p.step FROM {table} p
     WHERE p.run_id = :run_id AND p.key = :key AND p.step >= buckets.start AND p.step < buckets.start + :width
       AND p.step >= :low AND p.step < :high
     ORDER BY p.value DESC, p.step LIMIT 1) AS high_step
FROM buckets
"""
_POINT_TABLES = {"metrics": Metric, "metric_extremes": MetricExtreme}


def _extreme_steps(session, table: str, run_id: int, key: str, origin: int, width: int, low: int,
                   high: int) -> list[int]:
    """Give back the steps of the lowest and highest point of each bucket of `width` steps in [low, high).

    Buckets lie on a grid that starts at origin, so two ranges of one curve share their buckets.
    """
    if high <= low:
        return []
    assert table in _POINT_TABLES
    grid_start = origin + (low - origin) // width * width
    rows = session.execute(text(_EXTREME_STEPS_SQL.format(table=table)), {
        "run_id": run_id, "key": key, "grid_start": grid_start, "width": width, "low": low, "high": high})
    return sorted({step for row in rows for step in row if step is not None})


def _points_at(session, table: str, run_id: int, key: str, steps: Sequence[int]):
    model = _POINT_TABLES[table]
    found = []
    for i in range(0, len(steps), 5000):  # keep each statement well under SQLite's limit on parameters
        found += session.execute(
            select(model.step, model.value, model.epoch, model.wall_time)
            .where(model.run_id == run_id, model.key == key, model.step.in_(steps[i:i + 5000]))
            .order_by(model.step)).all()
    return found


def _point(row) -> dict[str, Any]:
    return {"step": row.step, "value": row.value, "epoch": row.epoch, "time": row.wall_time}


def _block_width(first: int, last: int, count: int) -> int:
    """Give back a power of two of steps that holds about BLOCK_POINTS points of this curve."""
    spacing = (last - first) / max(1, count - 1)
    return 1 << max(0, math.ceil(math.log2(max(1.0, spacing * BLOCK_POINTS))))


def _first_step(session, run_id: int, key: str) -> int | None:
    return session.scalar(select(func.min(Metric.step)).where(Metric.run_id == run_id, Metric.key == key))


def _extend_extremes(run_id: int, key: str) -> None:
    """Store the extremes of every block of a long curve that has filled since the last time."""
    with session_scope(write=True) as session:
        summary = session.scalar(
            select(MetricSummary).where(MetricSummary.run_id == run_id, MetricSummary.key == key).with_for_update())
        if summary is None or summary.count <= RAW_LIMIT:
            return
        first = _first_step(session, run_id, key)
        if summary.extremes_through is None or summary.extremes_block is None:
            session.execute(delete(MetricExtreme).where(MetricExtreme.run_id == run_id, MetricExtreme.key == key))
            block = _block_width(first, summary.last_step, summary.count)
            start = first
        else:
            block, start = summary.extremes_block, summary.extremes_through
        through = summary.last_step // block * block  # the block holding the last point is still filling
        if through <= start:
            return
        steps = _extreme_steps(session, "metrics", run_id, key, 0, block, start, through)
        if start == first:
            steps = sorted(set(steps) | {first})  # the curve's first point, which a chart always shows
        for i in range(0, len(steps), 5000):
            chosen = (select(Metric.run_id, Metric.key, Metric.step, Metric.value, Metric.epoch, Metric.wall_time)
                      .where(Metric.run_id == run_id, Metric.key == key, Metric.step.in_(steps[i:i + 5000])))
            session.execute(MetricExtreme.__table__.insert().from_select(
                ["run_id", "key", "step", "value", "epoch", "wall_time"], chosen))
        summary.extremes_through, summary.extremes_block = through, block


def _needs_extremes(summary: dict[str, Any]) -> bool:
    if summary["count"] <= RAW_LIMIT:
        return False
    through, block = summary["extremes_through"], summary["extremes_block"]
    return through is None or block is None or summary["last_step"] // block * block - through >= TAIL_BLOCKS * block


def sampled_history(run_id: int, key: str, points: int = POINTS_PER_CURVE) -> list[dict[str, Any]]:
    """Give back about `points` points of one curve, {step, epoch, value, time}, in step order.

    Short curves come back whole. Longer ones are cut into points/2 buckets of steps and keep each
    bucket's lowest and highest point, and the first and last point, so the first, last, minimum and
    maximum points always stay.
    """
    buckets = max(1, points // 2)
    with session_scope() as session:
        summary = session.execute(
            select(MetricSummary.count, MetricSummary.last_step, MetricSummary.extremes_through,
                   MetricSummary.extremes_block)
            .where(MetricSummary.run_id == run_id, MetricSummary.key == key)
        ).first()
        if summary is None:
            return []
        summary = dict(summary._mapping)
        if summary["count"] <= points:
            rows = session.execute(
                select(Metric.step, Metric.value, Metric.epoch, Metric.wall_time)
                .where(Metric.run_id == run_id, Metric.key == key).order_by(Metric.step))
            return [_point(row) for row in rows]
    if _needs_extremes(summary):
        try:
            _extend_extremes(run_id, key)
        except SQLAlchemyError as error:  # a busy or read-only database: read every point instead
            log.warning("could not store the extremes of run %s %s: %s", run_id, key, error)
    with session_scope() as session:
        through, block = session.execute(
            select(MetricSummary.extremes_through, MetricSummary.extremes_block)
            .where(MetricSummary.run_id == run_id, MetricSummary.key == key)).one()
        first = _first_step(session, run_id, key)
        last = session.scalar(select(func.max(Metric.step)).where(Metric.run_id == run_id, Metric.key == key))
        if first is None:
            return []
        width = max(1, math.ceil((last - first + 1) / buckets))
        rows = []
        first_raw = first
        if summary["count"] > RAW_LIMIT and through is not None and block is not None and through > first:
            steps = _extreme_steps(session, "metric_extremes", run_id, key, first, width, first, through)
            rows += _points_at(session, "metric_extremes", run_id, key, sorted(set(steps) | {first}))
            first_raw = through
        steps = _extreme_steps(session, "metrics", run_id, key, first, width, first_raw, last + 1)
        rows += _points_at(session, "metrics", run_id, key, sorted(set(steps) | {first_raw, last}))
    return [_point(row) for row in rows]


def run_history(run_id: int, keys: Iterable[str] | None = None,
                points: int = POINTS_PER_CURVE) -> dict[str, list[dict[str, Any]]]:
    """Give back {key: down-sampled points} for the run's curves (every logged key, or only keys)."""
    with session_scope() as session:
        query = select(MetricSummary.key).where(MetricSummary.run_id == run_id)
        if keys is not None:
            query = query.where(MetricSummary.key.in_(list(keys)))
        found = list(session.scalars(query))
    return {key: sampled_history(run_id, key, points) for key in metric_order(found)}


def prepare_long_curves(run_id: int) -> int:
    """Store the extremes of each long curve of a run now, so its first chart is quick; give back how many."""
    with session_scope() as session:
        summaries = [dict(row._mapping) for row in session.execute(
            select(MetricSummary.key, MetricSummary.count, MetricSummary.last_step, MetricSummary.extremes_through,
                   MetricSummary.extremes_block).where(MetricSummary.run_id == run_id))]
    prepared = 0
    for summary in summaries:
        if _needs_extremes(summary):
            _extend_extremes(run_id, summary["key"])
            prepared += 1
    return prepared


# ---------------------------------------------------------------- one run


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


# ---------------------------------------------------------------- several runs


def runs_for_compare(run_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Give back the runs in the order asked (missing ones left out), each with config and metric summaries."""
    ids = list(dict.fromkeys(int(i) for i in run_ids))
    if not ids:
        return []
    with session_scope() as session:
        rows = session.execute(
            select(Run, Dataset.name).join(Dataset, Dataset.id == Run.dataset_id).where(Run.id.in_(ids)))
        found = {}
        for run, dataset in rows:
            item = {column.key: getattr(run, column.key) for column in Run.__table__.columns}
            item["dataset"] = dataset
            found[run.id] = item
        summaries = summaries_in(session, list(found))
    for run_id, run in found.items():
        run["metrics"] = summaries.get(run_id, {})
    return [found[i] for i in ids if i in found]


def recent_runs(limit: int = 300) -> list[dict[str, Any]]:
    """Give back the newest runs (id, name, model, data set), archived ones left out, for pickers."""
    with session_scope() as session:
        rows = session.execute(
            select(Run.id, Run.name, Run.model, Run.status, Dataset.name.label("dataset"))
            .join(Dataset, Dataset.id == Run.dataset_id).where(Run.archived_at.is_(None))
            .order_by(Run.created_at.desc(), Run.id.desc()).limit(limit))
        return [dict(row._mapping) for row in rows]


def run_labels(run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Give back {id: {id, name, model, status, dataset}} for these runs."""
    if not run_ids:
        return {}
    with session_scope() as session:
        rows = session.execute(
            select(Run.id, Run.name, Run.model, Run.status, Dataset.name.label("dataset"))
            .join(Dataset, Dataset.id == Run.dataset_id).where(Run.id.in_(list(run_ids))))
        return {row.id: dict(row._mapping) for row in rows}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Give back {"training.learning_rate": 0.001, ...} from a nested config; lists become "128, 64"."""
    flat: dict[str, Any] = {}
    for key, value in (config or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, (list, tuple)):
            flat[name] = ", ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def run_settings(run: dict[str, Any]) -> dict[str, Any]:
    """Give back a run's settings as one flat dict, its data set first."""
    return {"dataset": run.get("dataset")} | flatten(run.get("config") or {})


def differing_settings(settings: Sequence[dict[str, Any]]) -> list[str]:
    """Give back the settings whose values are not the same in every run, in the order first seen."""
    keys = list(dict.fromkeys(k for s in settings for k in s))
    return [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]


def and_list(items: Iterable[Any]) -> str:
    """Give back items as a plain-word list: "3", "3 and 5", "3, 5 and 7"."""
    words = [str(item) for item in items]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def same_result(a: float, b: float) -> bool:
    """Give back True when two results read the same as shown (4 significant digits, as 98.08 %)."""
    return f"{a:.4g}" == f"{b:.4g}"


def leading_runs(runs: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Give back the runs with the best value of metric key: one run, several when they are tied, or none."""
    scored = [r for r in runs if key in r.get("metrics", {}) and r["metrics"][key].get("best") is not None]
    if not scored:
        return []
    pick = max if higher_is_better(key) else min
    top = pick(r["metrics"][key]["best"] for r in scored)
    return [r for r in scored if same_result(r["metrics"][key]["best"], top)]


def best_run(runs: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """Give back the one run with the best value of metric key, or None when none has it or several tie."""
    leaders = leading_runs(runs, key)
    return leaders[0] if len(leaders) == 1 else None


def compare_document(run_ids: Sequence[int], metric: str | None = None) -> dict[str, Any]:
    """Give back a comparison as one JSON-ready document: each run's results, the best run by metric
    (default: the first usual result every run has), and the settings that differ, run by run.

    best_run is the one best run's id; when several share the best value, best_run is None and tied
    lists their ids (otherwise tied is empty).
    """
    runs = runs_for_compare(run_ids)
    keys = metric_order({k for r in runs for k in r["metrics"]})
    common = [k for k in keys if all(k in r["metrics"] for r in runs)]
    metric = metric or next(iter(common or keys), None)
    leaders = leading_runs(runs, metric) if metric else []
    settings = {r["id"]: run_settings(r) for r in runs}
    return {
        "metric": metric,
        "higher_is_better": higher_is_better(metric) if metric else None,
        "best_run": leaders[0]["id"] if len(leaders) == 1 else None,
        "tied": [r["id"] for r in leaders] if len(leaders) > 1 else [],
        "best_value": leaders[0]["metrics"][metric]["best"] if leaders else None,
        "runs": [{"id": r["id"], "name": r["name"], "status": r["status"], "dataset": r["dataset"], "model": r["model"],
                  "best": {k: r["metrics"][k]["best"] for k in keys if k in r["metrics"]},
                  "summary": {k: r["metrics"][k]["last"] for k in keys if k in r["metrics"]}} for r in runs],
        "settings_that_differ": {k: {str(i): s.get(k) for i, s in settings.items()}
                                 for k in differing_settings(list(settings.values()))},
    }


# ---------------------------------------------------------------- archive and delete


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
