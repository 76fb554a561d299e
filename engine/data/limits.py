"""How much a data set may hold: each limit is a setting read from the environment, told in words when passed.

The file-size limit checks what was sent; the row and cell limits check what it unpacks to, because a small
Parquet or Excel file can hold millions of rows. Every real set Trainyard was tried on holds at most about
75,000 rows and 420,000 cells; the defaults leave more than fifty times that room.
"""

from __future__ import annotations

import os

from engine.errors import DataError, UserError

DEFAULT_MAX_FILE_MB = 4096
DEFAULT_MAX_TABLE_ROWS = 5_000_000
DEFAULT_MAX_TABLE_CELLS = 50_000_000  # about 400 MB once read as numbers


def _setting(name: str, default: float) -> float:
    """Give back the positive number in $name, or default; a value that is not one is refused in words."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UserError(f"The setting {name}={raw!r} is not a positive number. Set it to a number such as "
                        f"{default:g}, or unset it to use the default ({default:g}).")
    return value


def max_file_bytes() -> int:
    """Give back the largest file add_dataset takes: $TRAINYARD_MAX_FILE_MB megabytes (default 4096)."""
    return int(_setting("TRAINYARD_MAX_FILE_MB", DEFAULT_MAX_FILE_MB) * (1 << 20))


def max_table_rows() -> int:
    """Give back the most rows a table may hold: $TRAINYARD_MAX_TABLE_ROWS (default 5,000,000)."""
    return int(_setting("TRAINYARD_MAX_TABLE_ROWS", DEFAULT_MAX_TABLE_ROWS))


def max_table_cells() -> int:
    """Give back the most cells (rows × columns) a table may hold: $TRAINYARD_MAX_TABLE_CELLS (default 50,000,000)."""
    return int(_setting("TRAINYARD_MAX_TABLE_CELLS", DEFAULT_MAX_TABLE_CELLS))


def rows_fitting(columns: int) -> int:
    """Give back the most rows a table of this many columns may hold under both limits."""
    return max(1, min(max_table_rows(), max_table_cells() // max(columns, 1)))


def check_table_size(rows: int, columns: int, name: str, at_least: bool = False) -> None:
    """Raise DataError when a table of rows × columns is over the row or cell limit, saying the limit.

    at_least: rows is where reading stopped, not the whole count ("more than")."""
    count = f"more than {rows - 1:,}" if at_least else f"{rows:,}"
    room = "or raise the limit with the setting {} if this machine has the memory for it."
    if rows > max_table_rows():
        raise DataError(f"'{name}' has {count} rows; at most {max_table_rows():,} fit. Use fewer rows (for example "
                        "a random sample), " + room.format("TRAINYARD_MAX_TABLE_ROWS"))
    if rows * columns > max_table_cells():
        raise DataError(f"'{name}' has {count} rows of {columns:,} columns; at most {max_table_cells():,} cells "
                        f"(rows × columns) fit, so at most {rows_fitting(columns):,} rows of this width. Use fewer "
                        "rows or columns, " + room.format("TRAINYARD_MAX_TABLE_CELLS"))
