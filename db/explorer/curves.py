"""Down-sampled curves: about a chart's worth of points of a long metric history, read quickly."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from db.explorer.common import metric_order
from db.models import Metric, MetricExtreme, MetricSummary
from db.session import session_scope

log = logging.getLogger(__name__)

POINTS_PER_CURVE = 1500
# Curves longer than this keep the extremes of each block of about BLOCK_POINTS points in
# metric_extremes, so drawing them reads a few percent of their points.
RAW_LIMIT = 50_000
BLOCK_POINTS = 64
# The newest points stay raw until this many blocks have filled, so a live chart rarely writes.
TAIL_BLOCKS = 16


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
