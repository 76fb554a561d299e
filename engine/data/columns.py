"""What a table's columns hold: their types, constant and identifier columns, repeated rows (found by hashing),
labels spelt several ways, and values far outside a column's usual range."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from engine.data.profile import MIN_ROWS, MOSTLY_DIFFERENT, name_words, spread_sample

OUTLIER_SAMPLE = 20_000
# The words that name an identifier: a name's last word (customer_id, PassengerId, order key) or first (id_number).
ID_LAST_WORDS = ("id", "uuid", "guid", "key", "index")
ID_FIRST_WORDS = ("id", "uuid", "guid", "index")


def is_constant(series: pd.Series, missing: int | None = None) -> bool:
    """Give back True when every cell holds the same value (all missing counts as the same)."""
    missing = int(series.isna().sum()) if missing is None else missing
    if missing == len(series):
        return True
    if missing:
        return False
    return bool((series == series.iloc[0]).all())


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    """Give back each column's type in plain words: number, category, text or date."""
    types = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            types[column] = "category"
        elif pd.api.types.is_numeric_dtype(series):
            types[column] = "number"
        elif pd.api.types.is_datetime64_any_dtype(series):
            types[column] = "date"
        else:
            text = spread_sample(series).dropna().astype(str)
            long_text = not text.empty and text.str.len().mean() > 40 and text.nunique() > MOSTLY_DIFFERENT * len(text)
            types[column] = "text" if long_text else "category"
    return types


def rarely_different(series: pd.Series, fewest: int) -> bool:
    """Give back True when fewer than `fewest` cells differ from the column's most common value, an empty cell
    counting as a value: a constant column, or one so nearly constant that its few other rows cannot be learnt from."""
    if series.empty:
        return True
    head = series.iloc[: 4 * fewest]  # as many cells differ from the column's most common value in the head at least
    if len(head) - int(head.value_counts(dropna=False).iloc[0]) >= fewest:
        return False
    return len(series) - int(series.value_counts(dropna=False).iloc[0]) < fewest


def looks_like_id(series: pd.Series, name: str) -> bool:
    """Give back True for a column that names rows rather than describing them (unique per row)."""
    values = series.dropna()
    if len(values) < MIN_ROWS or pd.api.types.is_float_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return False  # a date tells when, even where each row has its own
    distinct = values.nunique()
    words = name_words(name)  # split where the case changes too: PassengerId, CustomerID
    if words and (words[-1] in ID_LAST_WORDS or words[0] in ID_FIRST_WORDS):
        return distinct >= 0.95 * len(values)
    return (distinct == len(values) and not pd.api.types.is_numeric_dtype(values)
            and values.astype(str).str.len().mean() <= 40)


def column_hashes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Give back one 64-bit hash per cell, column by column, hashed on several threads."""
    def hashed(column: str) -> np.ndarray:
        return pd.util.hash_pandas_object(frame[column], index=False).to_numpy()

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return dict(zip(frame.columns, pool.map(hashed, frame.columns)))


def combine_hashes(hashes: list[np.ndarray], rows: int) -> np.ndarray:
    """Give back one hash per row from per-column hashes; equal rows get equal hashes."""
    combined = np.zeros(rows, dtype=np.uint64)
    with np.errstate(over="ignore"):  # hashes wrap around by design
        for column in hashes:
            combined *= np.uint64(0x100000001B3)
            combined ^= column
    return combined


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """Give back one 64-bit hash per row; equal rows get equal hashes."""
    return combine_hashes(list(column_hashes(frame).values()), len(frame))


def repeats(hashes: np.ndarray) -> int:
    """Give back how many entries repeat an earlier one (sorting beats hashing for 64-bit keys here)."""
    ordered = np.sort(hashes)
    return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


def shared_mask(hashes: np.ndarray) -> np.ndarray:
    """Give back True for each entry whose value occurs more than once."""
    order = np.argsort(hashes)
    ordered = hashes[order]
    same = ordered[1:] == ordered[:-1]
    repeated = np.zeros(len(hashes), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    mask = np.empty(len(hashes), dtype=bool)
    mask[order] = repeated
    return mask


def telling_columns(frame: pd.DataFrame, columns: list[str], count: int = 3) -> list[str]:
    """Give back the `count` columns with the most different values in an even sample of rows."""
    sample = spread_sample(frame[columns], 20_000)
    return sorted(columns, key=lambda column: -sample[column].nunique())[:count]


def duplicate_counts(frame: pd.DataFrame, target: str | None, inputs: list[str] | None = None) -> tuple[int, int]:
    """Give back (duplicate rows, distinct inputs that appear with more than one answer)."""
    inputs = inputs if inputs is not None else [c for c in frame.columns if c != target]
    if not inputs:
        return 0, 0
    # Rows can only repeat each other if they agree on a few telling columns: hash those for every
    # row, and all the columns only for the rows that agree on them.
    agree = row_hashes(frame[telling_columns(frame, inputs)])
    if not repeats(agree):
        return 0, 0
    frame = frame[shared_mask(agree)]
    hashes = column_hashes(frame[inputs + ([target] if target else [])])
    input_hash = combine_hashes([hashes[c] for c in inputs], len(frame))
    if target is None or not repeats(input_hash):
        return repeats(input_hash), 0
    target_hash = hashes[target]
    duplicates = repeats(combine_hashes([input_hash, target_hash], len(frame)))
    shared = shared_mask(input_hash) & frame[target].notna().to_numpy()
    repeated = pd.DataFrame({"inputs": input_hash[shared], "target": target_hash[shared]})
    conflicting = int((repeated.groupby("inputs")["target"].nunique() > 1).sum()) if len(repeated) else 0
    return duplicates, conflicting


def normalised_label(label: str) -> str:
    """Give back label in lower case with punctuation and repeated spaces removed."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", str(label).lower()).split())


def label_spellings(counts: dict[str, int]) -> list[list[str]]:
    """Give back groups of labels that differ only by case, spaces or punctuation, most common first."""
    groups: dict[str, list[str]] = {}
    for label in counts:
        groups.setdefault(normalised_label(label), []).append(label)
    return [sorted(group, key=lambda label: (-counts[label], label)) for group in groups.values() if len(group) > 1]


def outlier_fences(values: pd.Series, reaches: tuple[float, ...] = (3.0,)) -> list[tuple[float, float]] | None:
    """Give back one (low, high) per reach beyond which a value is far outside the usual range, or None.

    Far means more than `reach` interquartile ranges beyond the quartiles (estimated on an even sample);
    for positive, right-skewed measurements (sizes, amounts) the rule is applied to their logarithm,
    where such tails are usual.
    """
    values = np.sort(spread_sample(values, OUTLIER_SAMPLE).dropna().to_numpy(dtype=float))
    if len(values) < 20 or np.count_nonzero(np.diff(values)) < 10:
        return None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    # Quartile skewness, unmoved by the very values being looked for.
    logarithmic = values[0] > 0 and q3 > q1 and (q3 + q1 - 2 * median) / (q3 - q1) > 0.15
    if logarithmic:
        q1, q3 = np.log(q1), np.log(q3)
    spread = q3 - q1
    if spread <= 0:
        return None
    fences = [(q1 - reach * spread, q3 + reach * spread) for reach in reaches]
    if logarithmic:
        return [(float(np.exp(low)), float(np.exp(high))) for low, high in fences]
    return [(float(low), float(high)) for low, high in fences]


def outlier_bounds(values: pd.Series, reach: float = 3.0) -> tuple[float, float] | None:
    """Give back (low, high) beyond which a value is far outside the usual range, or None."""
    fences = outlier_fences(values, (reach,))
    return fences[0] if fences else None
