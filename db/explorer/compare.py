"""Several runs: the Compare page's runs, pickers' labels, settings that differ, the best run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from db.explorer.common import metric_order
from db.models import Dataset, Run
from db.repo import higher_is_better, summaries_in
from db.session import session_scope


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
