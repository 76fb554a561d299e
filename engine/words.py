"""Figures and times in the words people use, for every page, command and report (no torch here)."""

from __future__ import annotations


def listed(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c': items as a sentence lists them."""
    return " and ".join(filter(None, (", ".join(items[:-1]), items[-1]))) if items else ""


def some_of(items: list[str], shown: int = 5) -> str:
    """Say the first items as a sentence lists them, and how many more there are: 'a', 'b' and 3 more."""
    return listed(items[:shown] + ([f"{len(items) - shown} more"] if len(items) > shown else []))


def times_in(share: float, n: int) -> str:
    """'97 times in 100' for large test splits, '27 times out of 30' for small ones."""
    if n >= 100:
        return f"{round(share * 100)} times in 100"
    return f"{round(share * n)} times out of {n}"


def plain_number(value: float, digits: int = 3, separators: bool = True) -> str:
    """A figure as people write it: digits significant digits below 1,000 (49.7, 0.8945), whole numbers above,
    with separators (49,713) or, in a list of figures that commas already part, without (49713); never 4.971e+04."""
    text = f"{value:.{digits}g}"
    if abs(float(text)) < 1000:  # 999.7 to three digits reads 1e+03, and is 1,000
        return text
    return f"{value:,.0f}" if separators else f"{value:.0f}"


def duration_words(seconds: float) -> str:
    """'40 seconds', '12 minutes', '3 hours': a duration as a person would say it."""
    if seconds < 1:
        return f"{seconds:.1g} seconds"
    if seconds < 90:
        whole = round(seconds)
        return f"{whole} second{'s' if whole != 1 else ''}"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f}".rstrip("0").rstrip(".") + " hours"


def human_seconds(seconds: float) -> str:
    """Give back a duration that is only likely, rounded as a person would say it: 'about 3 minutes'."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {round(seconds / 10) * 10:.0f} seconds"
    if seconds < 3600:
        minutes = round(seconds / 60)
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours = seconds / 3600
    return f"about {hours:.1f} hours" if hours < 10 else f"about {hours:.0f} hours"


def clock_duration(seconds: float | None) -> str:
    """Give back a measured duration as a clock reads it: '45 s', '12 min 05 s', '3 h 20 min'; '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
