"""Data sets: adding one, listing them, finding one by id or name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from db import access
from db.models import Dataset
from db.repo.common import _as_dict
from db.session import session_scope


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


def list_datasets(limit: int | None = None) -> list[dict[str, Any]]:
    """Give back the data sets, newest first (the newest limit of them, with a limit)."""
    with session_scope() as session:
        rows = session.scalars(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit))
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
