"""The one-click fixes: FIXES maps each cleaning step to its words, the settings it reads, and a small function for
tables (tables, texts, ratings) and one for image indexes where it applies. Storing the result as a new version is
engine.data.cleaning's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from engine.data.columns import label_spellings, outlier_bounds, row_hashes
from engine.data.profile import MIN_CLASS_EXAMPLES
from engine.data.ratings import MIN_USER_RATINGS, id_strings
from engine.data.text import word_counts
from engine.errors import DataError

FILL_METHODS = ("median", "mode", "constant")


def _column(frame: pd.DataFrame, step: dict[str, Any]) -> str:
    column = step.get("column")
    if column not in frame.columns:
        raise DataError(f"Choose a column for this fix; '{column}' is not one of: {', '.join(frame.columns)}.")
    return column


def _dropped(before: int, after: int, what: str = "rows") -> str:
    if after == before:
        raise DataError(f"Nothing to change: no {what} match this fix.")
    return f"{before - after:,} {what} dropped"


def merge_mapping(labels: pd.Series) -> dict[str, str]:
    """Give back {spelling: the group's most common spelling} for labels differing by case, space or punctuation."""
    counts = labels.dropna().astype(str).value_counts().to_dict()
    return {label: group[0] for group in label_spellings(counts) for label in group[1:]}


# ---------------------------------------------------------------- the fixes


# Each fix is a small function: (table, step, data set) → (cleaned table, what changed in words) for tables,
# texts and ratings; (image index, step) → (cleaned index, words) for pictures.


def _drop_duplicate_rows(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    keep = ~pd.Series(row_hashes(frame)).duplicated().to_numpy()
    return frame[keep], _dropped(len(frame), int(keep.sum()), "duplicate rows")


def _drop_conflicts(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    # Every row whose input (the text, for a text data set) appears elsewhere with another answer: no model can get
    # both right, and which one is right is not known.
    target = dataset["target"]
    inputs = ([dataset["schema"]["text_column"]] if dataset["kind"] == "text"
              else [c for c in frame.columns if c != target])
    keys = pd.Series(row_hashes(frame[inputs]), index=frame.index)
    answers = frame[target].astype(str).groupby(keys).nunique()
    keep = (keys.map(answers) <= 1).to_numpy()
    return frame[keep], _dropped(len(frame), int(keep.sum()), "rows whose input has conflicting answers")


def _drop_missing(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    result = frame.dropna(subset=[_column(frame, step)] if step.get("column") else None)
    return result, _dropped(len(frame), len(result), "rows with missing values")


def _fill_missing(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    column = _column(frame, step)
    method = step.get("method", "median")
    missing = int(frame[column].isna().sum())
    if not missing:
        raise DataError(f"Nothing to change: '{column}' has no missing values.")
    if column == dataset["target"]:
        raise DataError(f"'{column}' is the column to predict; its missing answers cannot be made up. "
                        "Drop those rows instead.")
    values = frame[column]
    numeric = pd.api.types.is_numeric_dtype(values)
    dates = pd.api.types.is_datetime64_any_dtype(values)
    if method == "median":
        if not numeric and not dates:
            raise DataError(f"'{column}' holds words, which have no median. Fill with the most common value.")
        fill = values.median()
    elif method == "mode":
        fill = values.mode(dropna=True).iloc[0]
    elif method == "constant":
        raw = step.get("value")
        if raw is None or str(raw).strip() == "":
            raise DataError("Write the value to fill the missing cells with.")
        fill = raw
        if dates:
            fill = pd.to_datetime(str(raw).strip(), errors="coerce")
            if pd.isna(fill):
                raise DataError(f"'{column}' holds dates; write a date to fill it with, such as 2016-07-02.")
        elif numeric:
            try:
                fill = float(raw)
            except ValueError:
                raise DataError(f"'{column}' holds numbers; write a number to fill it with.") from None
        else:
            fill = str(raw)
    else:
        raise DataError(f"'{method}' is not a way to fill; choose one of: {', '.join(FILL_METHODS)}.")
    frame = frame.copy()
    frame[column] = values.fillna(fill)
    shown = f"{fill:.4g}" if isinstance(fill, float) else str(fill)
    return frame, f"{missing:,} missing values in '{column}' filled with {shown} ({method})"


def _merge_row_labels(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    column = step.get("column") or dataset["target"]
    mapping = merge_mapping(frame[_column(frame, {"column": column})])
    if not mapping:
        raise DataError("Nothing to change: no labels differ only by case, spaces or punctuation.")
    frame = frame.copy()
    changed = int(frame[column].astype("string").isin(list(mapping)).sum())
    frame[column] = frame[column].map(lambda v: mapping.get(str(v), v) if not pd.isna(v) else v)
    merged = ", ".join(f"'{a}' → '{b}'" for a, b in list(mapping.items())[:6])
    return frame, f"{changed:,} labels merged ({merged})"


def _drop_rare_row_classes(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    column = step.get("column") or dataset["target"]
    minimum = int(step.get("min_count", MIN_CLASS_EXAMPLES))
    counts = frame[column].astype("string").value_counts()
    keep = frame[column].astype("string").isin(counts[counts >= minimum].index).to_numpy()
    dropped = len(counts[counts < minimum])
    return frame[keep], (f"{dropped} classes with fewer than {minimum} examples dropped "
                         f"({_dropped(len(frame), int(keep.sum()))})")


def _drop_column(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    column, target = _column(frame, step), dataset["target"]
    if column == target or column in dataset["schema"].get("roles", {}).values() \
            or column == dataset["schema"].get("text_column"):
        raise DataError(f"'{column}' is used by the data set "
                        f"({'the column to predict' if column == target else 'an input it needs'}); "
                        "it cannot be removed.")
    return frame.drop(columns=[column]), f"column '{column}' removed"


def _clip_outliers(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    column = _column(frame, step)
    bounds = outlier_bounds(frame[column])
    values = frame[column]
    far = 0 if bounds is None else int(((values < bounds[0]) | (values > bounds[1])).sum())
    if not far:
        raise DataError(f"Nothing to change: '{column}' has no values far outside its usual range.")
    frame = frame.copy()
    frame[column] = values.clip(*bounds)
    return frame, f"{far:,} values in '{column}' clipped to {bounds[0]:.4g} to {bounds[1]:.4g}"


def _drop_empty_texts(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    column = step.get("column") or dataset["schema"].get("text_column")
    keep = word_counts(frame[_column(frame, {"column": column})]) > 0
    return frame[keep], _dropped(len(frame), int(keep.sum()), "rows without text")


def _roles(dataset: dict[str, Any]) -> dict[str, str]:
    roles = dataset["schema"].get("roles")
    if not roles:
        raise DataError("This fix is for ratings data sets.")
    return roles


def _keep_last_rating(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    roles = _roles(dataset)
    ordered = frame.sort_values(roles["timestamp"], kind="stable") if roles.get("timestamp") else frame
    result = ordered[~ordered.duplicated([roles["user"], roles["item"]], keep="last")].sort_index()
    return result, _dropped(len(frame), len(result), "repeated ratings")


def _drop_rare_users(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    minimum = int(step.get("min_count", MIN_USER_RATINGS))
    users = id_strings(frame[_roles(dataset)["user"]])
    counts = users.value_counts()
    keep = users.isin(counts[counts >= minimum].index).to_numpy()
    return frame[keep], (f"{int((counts < minimum).sum()):,} users with fewer than {minimum} ratings dropped "
                         f"({_dropped(len(frame), int(keep.sum()))})")


def _drop_unreadable(index: pd.DataFrame, step: dict[str, Any]):
    readable = index["readable"]
    return index[readable], _dropped(len(index), int(readable.sum()), "unreadable images")


def _drop_duplicate_images(index: pd.DataFrame, step: dict[str, Any]):
    keep = ~(index["readable"] & index[["digest", "label"]].duplicated())
    return index[keep], _dropped(len(index), int(keep.sum()), "duplicate images")


def _merge_image_labels(index: pd.DataFrame, step: dict[str, Any]):
    mapping = merge_mapping(index.loc[index["readable"], "label"])
    if not mapping:
        raise DataError("Nothing to change: no labels differ only by case, spaces or punctuation.")
    index = index.copy()
    changed = int(index["label"].isin(list(mapping)).sum())
    index["label"] = index["label"].map(lambda v: mapping.get(v, v))
    return index, f"{changed:,} labels merged ({', '.join(f'{a!r} → {b!r}' for a, b in mapping.items())})"


def _drop_rare_image_classes(index: pd.DataFrame, step: dict[str, Any]):
    minimum = int(step.get("min_count", MIN_CLASS_EXAMPLES))
    counts = index.loc[index["readable"], "label"].value_counts()
    keep = index["label"].isin(counts[counts >= minimum].index).to_numpy()
    return index[keep], (f"{int((counts < minimum).sum())} classes with fewer than {minimum} images dropped "
                         f"({_dropped(len(index), int(keep.sum()), 'images')})")


def _resize(index: pd.DataFrame, step: dict[str, Any]):
    return index, "images resized"  # the pixels are decoded again at the new size by _clean_image_dataset


@dataclass(frozen=True)
class Fix:
    """One cleaning step: what it does in the words a new version's name and the page use, the settings of the step
    it reads, and how it changes a table (tables, texts, ratings) or an image index; None where it does not apply."""

    words: str
    settings: tuple[str, ...] = ()
    table: Callable[[pd.DataFrame, dict[str, Any], dict[str, Any]], tuple[pd.DataFrame, str]] | None = None
    images: Callable[[pd.DataFrame, dict[str, Any]], tuple[pd.DataFrame, str]] | None = None


def _reads_the_table_again(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]):
    raise AssertionError("set_target is applied by clean_dataset, which describes the table anew")


FIXES: dict[str, Fix] = {
    "drop_duplicates": Fix("duplicates dropped", (), _drop_duplicate_rows, _drop_duplicate_images),
    "drop_conflicts": Fix("inputs with conflicting answers dropped", (), _drop_conflicts),
    "drop_missing": Fix("rows with missing values dropped", ("column",), _drop_missing),
    "fill_missing": Fix("missing values filled", ("column", "method", "value"), _fill_missing),
    "merge_labels": Fix("label spellings merged", ("column",), _merge_row_labels, _merge_image_labels),
    "drop_rare_classes": Fix("rare classes dropped", ("column", "min_count"), _drop_rare_row_classes,
                             _drop_rare_image_classes),
    "drop_column": Fix("column removed", ("column",), _drop_column),
    "clip_outliers": Fix("extreme values clipped", ("column",), _clip_outliers),
    "drop_empty_texts": Fix("empty texts dropped", ("column",), _drop_empty_texts),
    "keep_last_rating": Fix("one rating per pair kept", (), _keep_last_rating),
    "drop_rare_users": Fix("users with few ratings dropped", ("min_count",), _drop_rare_users),
    "drop_unreadable": Fix("unreadable images dropped", (), images=_drop_unreadable),
    "resize": Fix("resized", ("height", "width"), images=_resize),
    "set_target": Fix("new column to predict", ("target", "task"), _reads_the_table_again),
}
STEP_WORDS = {name: fix.words for name, fix in FIXES.items()}
TABLE_STEPS = {name for name, fix in FIXES.items() if fix.table}
IMAGE_STEPS = {name for name, fix in FIXES.items() if fix.images}
STEP_SETTINGS = tuple(dict.fromkeys(setting for fix in FIXES.values() for setting in fix.settings))


def clean_table(frame: pd.DataFrame, step: dict[str, Any], dataset: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Give back (the cleaned table, what changed in words) for one step on a table data set."""
    fix = FIXES.get(step["step"])
    if fix is None or fix.table is None:
        raise DataError(f"'{step['step']}' is not a fix for {dataset['kind']} data sets.")
    return fix.table(frame, step, dataset)


def clean_images(index: pd.DataFrame, step: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Give back (the cleaned image index, what changed in words) for one step on an image data set."""
    fix = FIXES.get(step["step"])
    if fix is None or fix.images is None:
        raise DataError(f"'{step['step']}' is not a fix for image data sets.")
    return fix.images(index, step)
