"""Understanding a table: which column to predict and which task it is, and the pieces every quality report is
built from.

A quality report is a plain JSON-able dict. Each problem in report["problems"] says what it will do to
training ("effect") and what to do about it ("fix"), and may carry one-click "actions": cleaning steps
(see engine.data.fixes) that fix it. What the columns hold is found by engine.data.columns; the reports
themselves are engine.data.table_report's (tables), engine.data.image_report's, engine.data.text's and
engine.data.ratings'.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DataError
from engine.words import listed

# Usual names of the column to predict, first found first, matched by letters and digits ('Sale_Price', 'is_fraud'): the
# general ones, then what public tables of customers, passengers, staff, patients and houses are asked.
TARGET_NAMES = ("target", "label", "labels", "class", "y", "outcome", "category", "species", "sentiment",
                "topic", "answer", "churn", "churned", "survived", "attrition", "exited", "fraud", "isfraud",
                "diagnosis", "saleprice", "status", "response")
MAX_CLASSES = 100
MAX_CATEGORIES = 50
# Training rows with an empty cell a number column needs for the model to be told, in an input of its own, which rows
# lack the number (engine.data.prepare_tables.column_inputs): fewer could not teach it what a gap means, only to
# recognise those few rows.
MIN_EMPTY_ROWS = 10
MIN_CLASS_EXAMPLES = 5
MIN_ROWS = 10
CHOSEN = "you chose it"  # the reason given for whatever the user chose rather than left to detection
# A column holds free text, not categories, when more than this share of its values differ: a column of a few
# phrases said again and again (times of day such as '5:00 a.m.', a medium such as 'Oil paint on canvas') is read
# as categories however many words they have.
MOSTLY_DIFFERENT = 0.5
MIN_MEAN_WORDS = 4  # words a column's cells hold on average, at least, to be sentences
SAMPLE_ROWS = 100_000


def problem(code: str, severity: str, title: str, effect: str, fix: str,
            actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Give back one problem of a quality report; severity is 'serious', 'warning' or 'info'."""
    return {"code": code, "severity": severity, "title": title, "effect": effect, "fix": fix,
            "actions": actions or []}


def counted(n: int, one: str, many: str | None = None) -> str:
    """Give back '1 row' or '2,000 rows': a number with its noun in the right form."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def action(label: str, step: str, **params: Any) -> dict[str, Any]:
    """Give back a one-click fix: a cleaning step with its settings and a button label."""
    return {"label": label, "step": step, **params}


def spread_sample(frame: pd.DataFrame | pd.Series, rows: int = SAMPLE_ROWS):
    """Give back about `rows` rows spread evenly over frame (all of it when smaller): cheap and repeatable."""
    return frame if len(frame) <= rows else frame.iloc[:: -(-len(frame) // rows)]


# ---------------------------------------------------------------- target and task


def cannot_be_the_answer(values: pd.Series) -> str | None:
    """Give back what kind of column values is, in the plural, when it cannot be the answer, else None: a date tells
    when, it is rarely what is asked; a column of names or remarks holds too many labels to be classes."""
    values = values.dropna()
    if pd.api.types.is_datetime64_any_dtype(values):
        return "dates"
    if values.empty:
        return "empty columns"
    if (values == values.iloc[0]).all():
        return "columns of one value"
    if not pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_CLASSES:
        return f"columns of more than {MAX_CLASSES} labels"
    return None


def name_words(name: str) -> list[str]:
    """Give back the words of a name, lower case: 'movieTitle' and 'movie_title' give movie, title."""
    return [word.lower() for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", str(name))]


def _singular(word: str) -> str:
    """'deliveries' → 'delivery', 'prices' → 'price'; 'class' stays."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _named_by_file(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """Give back the one column that can be the answer and has a word of four letters or more of the file's name:
    what the table is about (Price in car_prices.csv, yield in chem_proc_yield.csv), else None. Not a column of
    names ('city' in cities.csv), which names the rows."""
    words = {_singular(word) for word in name_words(Path(frame.attrs.get("file_name", "")).stem) if len(word) > 3}
    named = [column for column in columns if words & {_singular(word) for word in name_words(column)}]
    if len(named) != 1 or cannot_be_the_answer(values := frame[named[0]]) is not None:
        return None
    if not pd.api.types.is_numeric_dtype(values) and values.nunique() > MOSTLY_DIFFERENT * values.count():
        return None
    return named[0]


def guess_target(frame: pd.DataFrame, exclude: tuple[str, ...] = (), excluded_as: str = "the inputs"
                 ) -> tuple[str, str]:
    """Give back (column, reason) for the column most likely to be the one to predict: one with a usual name for
    it (which check_target may then refuse in plain words), else the one the file is named for, else the last
    column, passing over those that cannot be the answer and those excluded (inputs, said as excluded_as)."""
    columns = [column for column in frame.columns if column not in exclude]
    lowered = {}
    for column in columns:
        lowered.setdefault(re.sub(r"[^a-z0-9]", "", column.lower()), column)
    for name in TARGET_NAMES:
        if name not in lowered:
            continue
        if name == "y" and "x" in lowered and lowered["y"] != columns[-1]:
            continue  # a 'y' beside an 'x' is a coordinate or a size (diamonds' x, y, z in mm), not the answer
        return lowered[name], f"its name, '{lowered[name]}', is a usual name for the column to predict"
    named = _named_by_file(frame, columns)
    if named:
        return named, f"the file's name, '{frame.attrs['file_name']}', names it: the table is about '{named}'"
    passed = []
    for column in reversed(frame.columns):
        why = excluded_as if column in exclude else cannot_be_the_answer(frame[column])
        if why is None:
            after = listed(list(dict.fromkeys(reversed(passed))))
            return column, f"it is the last column{' but for ' + after if after else ''}, where the answer usually goes"
        passed.append(why)
    return columns[-1], "it is the last column, where the answer usually goes"


def guess_task(target: pd.Series) -> tuple[str, str]:
    """Give back (task, reason): classification for labels, regression for measured numbers."""
    values = target.dropna()
    unique = values.nunique()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification", f"it holds {unique} different labels, not numbers"
    is_whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if is_whole and unique <= min(20, max(2, len(values) // 5)):
        return "classification", f"it holds only {unique} different whole numbers, so they read as classes"
    return "regression", f"it holds {unique} different numbers, so the model predicts a number"


def check_target(frame: pd.DataFrame, target: str, task: str) -> None:
    """Raise DataError when the target column cannot be trained on."""
    if target not in frame.columns:
        raise DataError(f"There is no column named '{target}'. Choose one of: {', '.join(frame.columns)}.")
    if frame.shape[1] < 2:
        raise DataError("The table needs at least one input column besides the column to predict.")
    values = frame[target].dropna()
    if values.empty:
        raise DataError(f"Every value in '{target}' is missing, so there is nothing to learn. "
                        "Choose another column to predict, or fill it in.")
    if task == "classification":
        check_classes(values.astype(str).value_counts(), f"'{target}'")
    elif task == "regression" and not pd.api.types.is_numeric_dtype(values):
        raise DataError(f"'{target}' holds text, so it cannot be predicted as a number. Choose 'classification'.")
    if len(values) < MIN_ROWS:
        raise DataError(f"Only {len(values)} rows have a value in '{target}'; at least {MIN_ROWS} are needed "
                        "to train and test.")


def check_classes(counts: pd.Series, what: str) -> None:
    """Raise DataError when counts (examples per class) cannot make a classifier."""
    if len(counts) < 2:
        only = f" ('{counts.index[0]}')" if len(counts) else ""
        raise DataError(
            f"{what} has only one class{only}. A model needs at least two different answers to learn to tell "
            "them apart. Add examples of other classes, or choose another column."
        )
    if len(counts) > MAX_CLASSES:
        raise DataError(
            f"{what} has {len(counts)} different values — too many to use as classes (at most {MAX_CLASSES}). "
            "If it is a measured number, choose the task 'regression'; otherwise choose another column to predict."
        )



def report_summary(report: dict[str, Any]) -> dict[str, Any]:
    """Give back the few figures of a report shown side by side before and after cleaning."""
    summary = {
        "rows": report.get("rows"),
        "missing_cells": sum(report.get("missing", {}).values()),
        "duplicates": report.get("duplicate_rows", report.get("duplicate_images")),
        "classes": len(report["class_counts"]) if report.get("class_counts") else None,
        "problems": len(report.get("problems", [])),
        "problem_titles": [p["title"] for p in report.get("problems", [])],
    }
    if "unreadable" in report:
        summary["unreadable_images"] = int(report.get("counts", {}).get("unreadable", len(report["unreadable"])))
    return summary
