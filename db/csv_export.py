"""CSV text to download: every export goes through csv_text, so a spreadsheet never runs a cell as a formula.

It lives beside the database code because the lowest layer's exports use it too (metric histories); the
dashboard and the command line call it for theirs.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

# A cell a spreadsheet reads as a formula starts with one of these (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Give back value as a CSV cell: text that would start a formula gets a leading ', numbers stay numbers."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # a numpy number as the plain Python one
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (bool, int)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """Give back the header and rows as CSV text, every text cell made formula-safe."""
    out = io.StringIO()
    # Lines end in CR LF (RFC 4180), so a cell holding a lone CR is quoted and stays one cell.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()


def frame_csv(frame) -> bytes:
    """Give back a pandas table as formula-safe CSV bytes (UTF-8), without its index."""
    return csv_text(list(frame.columns), frame.itertuples(index=False, name=None)).encode()
