"""The runs list: filters, sorting, one page of runs, and what the filters offer."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import aliased

from db.explorer.common import _like, metric_order
from db.models import ACTIVE, Dataset, MetricSummary, Run
from db.repo import higher_is_better, summaries_in
from db.session import session_scope


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
