"""What every command of the command line shares: finding a data set or a run, printing a table or one JSON
document, reading a --set value."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

from engine.errors import UserError

SUMMARY_KEYS = ("test_accuracy", "test_f1_macro", "test_precision_macro", "test_recall_macro", "test_rmse",
                "test_mae", "test_r2", "val_loss", "val_accuracy", "train_loss", "epochs_completed",
                "samples_per_second")


def plain(value: Any) -> Any:
    """Give back value as strict JSON's types: times as text, NaN and infinities as null (JSON has neither)."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return plain(value.tolist())  # a numpy number or array as plain Python ones
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit(args, document: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(plain(document), indent=2, default=str, allow_nan=False))
    else:
        print(text)


def table_text(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def ready() -> None:
    from db.session import ensure_ready

    ensure_ready()


def shown_url(url: str) -> str:
    """Give back a database address fit to print: its password, if any, replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an address SQLAlchemy reads: print none of it
        return "unreadable"


def parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def find_dataset(name_or_id: str) -> dict[str, Any]:
    """Give back the data set with this id or, when no id matches, this name; a number is read as an id first."""
    from db import repo

    ready()
    dataset = found(repo.get_dataset(name_or_id),
                    f"There is no data set '{name_or_id}'. `python -m engine datasets list` shows them.")
    if str(name_or_id).isdigit() and dataset["name"] != str(name_or_id):
        named = [d["id"] for d in repo.list_datasets() if d["name"] == str(name_or_id)]
        if named:
            print(f"Note: '{name_or_id}' is read as the id of data set {dataset['id']} ('{dataset['name']}'). The data "
                  f"set named '{name_or_id}' has the id {named[0]}: use {named[0]} to choose it.", file=sys.stderr)
    return dataset


def find_run(run_id: int) -> dict[str, Any]:
    from db import repo

    ready()
    return found(repo.get_run(run_id), f"There is no run {run_id}. `python -m engine runs list` shows them.")


def found(thing: dict[str, Any] | None, missing: str) -> dict[str, Any]:
    """Give back thing, or refuse with the sentence missing when there is none."""
    if thing is None:
        raise UserError(missing)
    return thing
