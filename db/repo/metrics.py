"""Metrics: writing points with their per-key summaries, reading summaries and history back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from db.models import Metric, MetricSummary
from db.session import get_engine, session_scope


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
