"""What the repository's modules share: turning a row into a plain dict."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect


def _as_dict(row) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in inspect(row).mapper.column_attrs}
