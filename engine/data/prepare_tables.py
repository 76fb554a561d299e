"""Preparing a table for a network: scaling and category codes fitted on the training rows, applied to frames or
to rows sent as JSON, and the target as class indices or standardised numbers (which every kind shares)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.data.prepared import PreparedData
from engine.data.profile import MAX_CATEGORIES, MIN_EMPTY_ROWS
from engine.errors import DataError
from engine.models.zoo.mlp import (FEWEST_DIFFERENT_ROWS, MIN_WORD_ROWS, TABLE_WORDS, WORD_INPUTS,  # how it reads
                                   number_ranges)

# Skewness above which a numeric column is scaled by its logarithm (a normal spread has 0, an exponential 2).
LONG_TAIL_SKEW = 2.0


def is_long_tailed(values: pd.Series) -> bool:
    """Give back whether a column's values are so skewed (counts, amounts) that a network learns better from their
    logarithm: a few huge values would otherwise squeeze all the others into a sliver of the scaled range."""
    return values.nunique() > 10 and abs(float(values.skew())) > LONG_TAIL_SKEW


def signed_log(values):
    """Give back log(1 + |x|) with x's sign: a logarithm that keeps zero and negative numbers."""
    return np.sign(values) * np.log1p(np.abs(values))


def scale_numbers(values: np.ndarray, column: dict[str, Any]) -> np.ndarray:
    """Give back a numeric column's values as the model sees them (after missing cells are filled)."""
    if column.get("log"):
        values = signed_log(values)
    return (values - column["mean"]) / column["std"]


def unscale_numbers(values: np.ndarray, column: dict[str, Any]) -> np.ndarray:
    """Give back a numeric column's values in the user's units from what the model sees (scale_numbers undone)."""
    values = values * column["std"] + column["mean"]
    return np.sign(values) * np.expm1(np.abs(values)) if column.get("log") else values


# What a network reads of a date: its moment (days since 1 January 1970, with the time of day as a fraction), for a
# trend; its month, day of the week, day of the month and day of the year, for the seasons, weeks, paydays and
# holidays of what people do; its hour, for the rhythm of a day. A part that is the same in every training row (the
# hour of a date without a time) is left out. The day of the year, Balanced, seeds 0-1, RMSE without → with it
# (gradient boosting on the same parts in brackets): births a day in the US 1969-88 (mosaicData) 234.6 → 216.9
# (216.3 → 202.4), Chicago's trains (modeldata) 1.827 → 1.586 (1.620 → 1.369), and daily top temperatures in
# Clemson (stevedata) 7.366 → 7.400 (7.203 → 7.156).
DATE_PARTS = ("days", "month", "weekday", "day", "yearday", "hour")
DATE_PART_WORDS = {"days": "its moment in time", "month": "its month", "weekday": "its day of the week",
                   "day": "its day of the month", "yearday": "its day of the year", "hour": "its time of day"}
EPOCH = pd.Timestamp("1970-01-01")


def as_dates(values) -> pd.Series:
    """Give back values (dates, or dates written as text such as 2016-07-02 or 2016-07-02T13:40:00Z) as dates without
    a time zone, in UTC; a cell that is no date is empty (NaT)."""
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.tz_convert(None) if series.dt.tz is not None else series
    text = series.astype("string").str.strip()
    dates = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    others = dates.isna() & text.notna()
    if others.any():
        dates[others] = pd.to_datetime(text[others], errors="coerce", utc=True, format="mixed")
    return dates.dt.tz_convert(None)


def date_parts(values) -> pd.DataFrame:
    """Give back the DATE_PARTS of each date in values as numbers (empty where a date is)."""
    dates = as_dates(values)
    return pd.DataFrame({
        "days": (dates - EPOCH) / pd.Timedelta(days=1),
        "month": dates.dt.month.astype(float),
        "weekday": dates.dt.day_of_week.astype(float),
        "day": dates.dt.day.astype(float),
        "yearday": dates.dt.day_of_year.astype(float),
        "hour": (dates.dt.hour + dates.dt.minute / 60).astype(float),
    }, index=dates.index)


def date_text(days: float) -> str:
    """Give back a date's moment (days since 1 January 1970) as it is written: 2016-07-02, or 2016-07-02 13:40."""
    moment = (EPOCH + pd.Timedelta(days=float(days))).round("min")
    return moment.strftime("%Y-%m-%d %H:%M" if moment != moment.normalize() else "%Y-%m-%d")


def _number_column(name: str, values: pd.Series, ranges: int, may_log: bool = True) -> dict[str, Any]:
    """Give back how a numeric column is filled, scaled and read by range, learned from its training values."""
    median = float(values.median()) if values.notna().any() else 0.0
    filled = values.fillna(median)
    log = may_log and is_long_tailed(filled)
    scaled = signed_log(filled) if log else filled
    std = float(scaled.std(ddof=0)) or 1.0
    mean = float(scaled.mean())
    # Rounded before duplicates are dropped: two quantiles 1e-7 apart would round to one edge, a range of no width.
    edges = np.unique(np.quantile((scaled.to_numpy() - mean) / std, np.linspace(0, 1, ranges + 1)).round(6))
    return ({"name": name, "median": median, "log": log, "mean": mean, "std": std,
             "edges": [float(e) for e in edges]}
            | ({"missing_input": True} if values.isna().sum() >= MIN_EMPTY_ROWS else {}))


def common_words(texts: pd.Series) -> list[str]:
    """Give back the words of a text column that the table network reads: its TABLE_WORDS most common (fewer on a
    table so large that they would take more than WORD_INPUTS inputs), each in MIN_WORD_ROWS texts or more, by how
    many texts hold them (then alphabetically)."""
    from collections import Counter

    from engine.data.text import tokens

    rows = Counter(word for text in texts.dropna() for word in set(tokens(text)))
    ranked = sorted((item for item in rows.items() if item[1] >= MIN_WORD_ROWS), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:max(1, min(TABLE_WORDS, WORD_INPUTS // max(1, len(texts))))]]


def words_in(texts: list[Any], words: list[str]) -> np.ndarray:
    """Give back a float32 (len(texts), len(words)) array: 1 where the text holds the word."""
    from engine.data.text import tokens

    lookup = {word: i for i, word in enumerate(words)}
    out = np.zeros((len(texts), len(words)), dtype=np.float32)
    for row, text in enumerate(texts):
        found = [lookup[word] for word in set(tokens(text)) if word in lookup]
        out[row, found] = 1.0
    return out


def fit_table_preprocessing(frame: pd.DataFrame, target: str, task: str, column_types: dict[str, str]) -> dict[str, Any]:
    """Learn scaling, category codes and words from the training rows; give back a plain, JSON-able dict.

    A date column is read as numbers, one per part of DATE_PARTS that varies: entries of prep["numeric"] with the
    column's name and a "date_part", side by side, the first of them saying whether the model is told of gaps. A
    text column is read by its common words (common_words), or as a category where too few words recur. A number
    column whose training rows differ from its most common value in fewer than FEWEST_DIFFERENT_ROWS is not read."""
    from engine.data.columns import is_constant, rarely_different

    numeric, categorical, texts = [], [], []
    inputs = [column for column in frame.columns if column != target]
    ranges = number_ranges(sum({"number": 1, "date": 3}.get(column_types.get(column), 0) for column in inputs),
                           len(frame))
    for column in inputs:
        series = frame[column]
        if is_constant(series):
            continue  # carries no information
        if column_types.get(column) == "number" and rarely_different(series, FEWEST_DIFFERENT_ROWS):
            continue  # too nearly constant to learn from
        if column_types.get(column) == "number":
            numeric.append(_number_column(column, series.astype(float), ranges))
        elif column_types.get(column) == "date":
            parts = date_parts(series)
            for i, part in enumerate(part for part in DATE_PARTS if parts[part].nunique() > 1):
                entry = _number_column(column, parts[part], ranges, may_log=False) | {"date_part": part}
                numeric.append(entry if i == 0 else {k: v for k, v in entry.items() if k != "missing_input"})
        elif column_types.get(column) == "text" and (words := common_words(series)):
            texts.append({"name": column, "words": words})
        elif column_types.get(column) in ("category", "text"):
            counts = series.astype("string").fillna("(missing)").value_counts()
            kept = counts.iloc[:MAX_CATEGORIES]
            categorical.append({"name": column, "categories": [str(c) for c in kept.index],
                                "counts": [int(n) for n in kept.to_numpy()]})
    if not numeric and not categorical and not texts:
        raise DataError("No input column can be used: every column besides the target is constant or empty, or a "
                        f"number column with the same value in all but {FEWEST_DIFFERENT_ROWS - 1} training rows or "
                        "fewer.")
    prep: dict[str, Any] = {"kind": "tabular", "target": target, "task": task,
                            "numeric": numeric, "categorical": categorical}
    if texts:
        from engine.data.text import WORD

        prep.update(texts=texts, word_pattern=WORD.pattern)
    if task == "classification":
        prep["classes"] = sorted(str(value) for value in frame[target].dropna().astype(str).unique())
    else:
        values = frame[target].astype(float)
        prep["target_mean"] = float(values.mean())
        prep["target_std"] = float(values.std(ddof=0)) or 1.0
    prep["n_features"] = (len(numeric) + sum(len(c["categories"]) + 1 for c in categorical)
                          + sum(len(c["words"]) for c in texts) + sum(bool(c.get("missing_input")) for c in numeric))
    return prep


def column_inputs(prep: dict[str, Any]) -> list[tuple[str, list[int]]]:
    """Give back each input column of a prepared table with the positions of its inputs in an encoded row.

    A row is laid out as: one input per numeric column (its scaled value, the median where the cell is empty) and
    per part of a date column (DATE_PARTS; the column's inputs are all of its parts), then one yes/no input per
    category of each categorical column and one for a value not seen in training, then one yes/no input per word
    read of each text column (common_words), then one yes/no input per numeric column with empty cells in
    MIN_EMPTY_ROWS training rows or more, saying that the row's cell is empty.
    The median alone would read an unknown number as a typical one, where an empty cell often tells something of
    its own (an income left out of a loan request, an age a survey did not ask)."""
    inputs: dict[str, list[int]] = {}
    at = 0
    for column in prep["numeric"]:  # a date's parts, side by side, are its column's inputs
        inputs.setdefault(column["name"], []).append(at)
        at += 1
    for column in prep["categorical"]:
        width = len(column["categories"]) + 1
        inputs[column["name"]] = list(range(at, at + width))
        at += width
    for column in prep.get("texts", []):
        inputs[column["name"]] = list(range(at, at + len(column["words"])))
        at += len(column["words"])
    for column in prep["numeric"]:
        if column.get("missing_input"):
            inputs[column["name"]].append(at)
            at += 1
    return list(inputs.items())


def input_columns(prep: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Give back each input column of a prepared table once, in its inputs' order, as (name, kind, typical value):
    a number and its median, a date and its median date as written (2016-07-02), a category and its most common
    value, a text and no text."""
    columns: dict[str, tuple[str, str, Any]] = {}
    for column in prep["numeric"]:
        if column["name"] not in columns:  # a date by its first part, its moment
            columns[column["name"]] = ((column["name"], "date", date_text(column["median"])) if column.get("date_part")
                                       else (column["name"], "number", column["median"]))
    for column in prep["categorical"]:
        columns[column["name"]] = (column["name"], "category", column["categories"][0] if column["categories"] else "")
    for column in prep.get("texts", []):
        columns[column["name"]] = (column["name"], "text", "")
    return list(columns.values())


def transform_features(frame: pd.DataFrame, prep: dict[str, Any]) -> np.ndarray:
    """Give back the float32 feature matrix for frame, applying prep exactly as fitted (laid out as column_inputs
    says)."""
    out = np.zeros((len(frame), prep["n_features"]), dtype=np.float32)
    at, empty, dates = 0, [], {}
    for column in prep["numeric"]:
        name = column["name"]
        if name not in frame.columns:
            raise DataError(f"The input column '{name}' is missing.")
        if column.get("date_part"):
            if name not in dates:
                dates[name] = date_parts(frame[name].reset_index(drop=True))
            values = dates[name][column["date_part"]]
        else:
            values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        if column.get("missing_input"):
            empty.append(values.isna().to_numpy())
        out[:, at] = scale_numbers(values.fillna(column["median"]).to_numpy(), column)
        at += 1
    for column in prep["categorical"]:
        if column["name"] not in frame.columns:
            raise DataError(f"The input column '{column['name']}' is missing.")
        categories = column["categories"]
        values = frame[column["name"]].astype("string").fillna("(missing)")
        codes = pd.Index(categories).get_indexer(values).astype(np.int64)
        codes[codes < 0] = len(categories)  # the last slot: a value not seen in training
        out[np.arange(len(frame)), at + codes] = 1.0
        at += len(categories) + 1
    for column in prep.get("texts", []):
        if column["name"] not in frame.columns:
            raise DataError(f"The input column '{column['name']}' is missing.")
        out[:, at:at + len(column["words"])] = words_in(frame[column["name"]].tolist(), column["words"])
        at += len(column["words"])
    if empty:  # the last inputs: which rows lack each such number
        out[:, at:] = np.stack(empty, axis=1)
    return out


def transform_records(records: list[dict[str, Any]], prep: dict[str, Any]) -> np.ndarray:
    """Give back what transform_features gives for pd.DataFrame(records), without pandas: the model service's
    path for rows sent as JSON, where building a frame would cost more than the model. Numbers are floats or
    None (missing); dates are text (2016-07-02) or None; categories are compared as text, as the frame's string
    conversion does; texts are text or None."""
    out = np.zeros((len(records), prep["n_features"]), dtype=np.float32)
    at, empty, dates = 0, [], {}
    for column in prep["numeric"]:
        name = column["name"]
        if column.get("date_part"):  # a date as text, or None
            if name not in dates:
                dates[name] = date_parts([row.get(name) for row in records])
            values = dates[name][column["date_part"]].to_numpy(dtype=float, copy=True)
        else:
            values = np.array([np.nan if row.get(name) is None else row[name] for row in records], dtype=float)
        gaps = np.isnan(values)
        if column.get("missing_input"):
            empty.append(gaps)
        values[gaps] = column["median"]
        out[:, at] = scale_numbers(values, column)
        at += 1
    rows = np.arange(len(records))
    for column in prep["categorical"]:
        lookup = {category: i for i, category in enumerate(column["categories"])}
        unseen, name = len(lookup), column["name"]
        codes = [lookup.get("(missing)" if row.get(name) is None else str(row[name]), unseen) for row in records]
        out[rows, at + np.array(codes, dtype=np.int64)] = 1.0
        at += len(column["categories"]) + 1
    for column in prep.get("texts", []):
        out[:, at:at + len(column["words"])] = words_in([row.get(column["name"]) for row in records], column["words"])
        at += len(column["words"])
    if empty:  # the last inputs: which rows lack each such number
        out[:, at:] = np.stack(empty, axis=1)
    return out


def transform_target(series: pd.Series, prep: dict[str, Any]) -> np.ndarray:
    """Give back class indices (int64) or standardised numbers (float32) for a target column."""
    if prep["task"] == "classification":
        codes = pd.Index(prep["classes"]).get_indexer(series.astype(str))
        if (codes < 0).any():
            raise DataError("A label that the model does not know was found.")
        return codes.astype(np.int64)
    return ((series.astype(float).to_numpy() - prep["target_mean"]) / prep["target_std"]).astype(np.float32)


def _labelled(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    return frame[frame[target].notna()].reset_index(drop=True)


def _all_classes(prep: dict[str, Any], labels: pd.Series) -> None:
    # A class seen only outside the training rows must still have an output.
    missing = set(labels.astype(str)) - set(prep["classes"])
    if missing:
        prep["classes"] = sorted(set(prep["classes"]) | missing)


def prepare_table(frame: pd.DataFrame, target: str, task: str, column_types: dict[str, str],
                  splits: dict[str, np.ndarray]) -> PreparedData:
    """Give back train/validation/test arrays of a table, with preprocessing fitted on the training rows."""
    prep = fit_table_preprocessing(frame.iloc[splits["train"]], target, task, column_types)
    if task == "classification":
        _all_classes(prep, frame[target])
    arrays = {}
    for split, rows in splits.items():
        part = frame.iloc[rows]
        arrays[split] = (transform_features(part, prep), transform_target(part[target], prep))
    return PreparedData(arrays=arrays, preprocessing=prep)
