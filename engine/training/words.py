"""How the evaluation report and the classical reference put figures into words (no torch here)."""

from __future__ import annotations


def times_in(share: float, n: int) -> str:
    """'97 times in 100' for large test splits, '27 times out of 30' for small ones."""
    if n >= 100:
        return f"{round(share * 100)} times in 100"
    return f"{round(share * n)} times out of {n}"


def plain_number(value: float) -> str:
    """A figure as people write it: three significant digits below 1,000, whole numbers with separators above."""
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
