"""Understanding a table: which column to predict, which task it is, and what is wrong with it.

A quality report is a plain JSON-able dict. Each problem in report["problems"] says what it will do to
training ("effect") and what to do about it ("fix"), and may carry one-click "actions": cleaning steps
(see engine.data.cleaning) that fix it.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DataError

TARGET_NAMES = ("target", "label", "labels", "class", "y", "outcome", "category", "species", "sentiment",
                "topic", "answer")
MAX_CLASSES = 100
MAX_CATEGORIES = 50
MIN_CLASS_EXAMPLES = 5
MIN_ROWS = 10
SAMPLE_ROWS = 100_000
OUTLIER_SAMPLE = 20_000
ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index)$|^(id|uuid|guid|index)([_\s.-]|$)", re.I)


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


def guess_target(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> tuple[str, str]:
    """Give back (column, reason) for the column most likely to be the one to predict."""
    columns = [column for column in frame.columns if column not in exclude]
    lowered = {column.lower(): column for column in columns}
    for name in TARGET_NAMES:
        if name in lowered:
            return lowered[name], f"its name, '{lowered[name]}', is a usual name for the column to predict"
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


# ---------------------------------------------------------------- columns


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
            long_text = not text.empty and text.str.len().mean() > 40 and text.nunique() > 0.5 * len(text)
            types[column] = "text" if long_text else "category"
    return types


def looks_like_id(series: pd.Series, name: str) -> bool:
    """Give back True for a column that names rows rather than describing them (unique per row)."""
    values = series.dropna()
    if len(values) < MIN_ROWS or pd.api.types.is_float_dtype(values):
        return False
    distinct = values.nunique()
    if ID_NAME.search(name.strip()):
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


# ---------------------------------------------------------------- the report


def table_basics(frame: pd.DataFrame) -> dict[str, Any]:
    """Give back rows, columns, types and missing cells per column."""
    return {
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "types": column_types(frame),
        "missing": {column: int(count) for column, count in frame.isna().sum().items()},
    }


def missing_problems(report: dict[str, Any], target: str | None, roles: str = "input") -> list[dict[str, Any]]:
    """Give back one problem per column with missing cells, with fill and drop fixes."""
    problems = []
    rows = max(report["rows"], 1)
    for column, count in report["missing"].items():
        if not count:
            continue
        share = count / rows
        title = f"{counted(count, 'missing cell')} in '{column}' ({share:.0%})"
        if column == target:
            problems.append(problem(
                "missing_target", "warning", title,
                "Rows without an answer cannot be used to train or test; they are left out.",
                "Fill in the answers at the source, or drop these rows.",
                [action("Drop these rows", "drop_missing", column=column)]))
            continue
        numeric = report["types"].get(column) == "number"
        fill = (action("Fill with the median", "fill_missing", column=column, method="median") if numeric
                else action("Fill with the most common value", "fill_missing", column=column, method="mode"))
        problems.append(problem(
            "missing", "warning" if share < 0.3 else "serious", title,
            f"Missing {roles} values are filled with the column's "
            f"{'median' if numeric else 'most common value'} during training, which blurs what the model "
            "learns from this column." + (" With this many gaps the column may mislead more than it helps."
                                          if share >= 0.3 else ""),
            "Fill them in at the source, fill them here, or drop the rows.",
            [fill, action("Drop these rows", "drop_missing", column=column)]))
    return problems


def class_problems(counts: dict[str, int], target: str) -> list[dict[str, Any]]:
    """Give back problems with the classes: spellings, rare classes and imbalance."""
    problems = []
    spellings = label_spellings(counts)
    for group in spellings:
        shown = ", ".join(f"'{label}' ({counts[label]})" for label in group)
        problems.append(problem(
            "label_spellings", "serious", f"The labels {shown} differ only by case, spaces or punctuation",
            "They are treated as different classes, so the model is taught that the same answer is two "
            "different things.",
            f"Merge them into '{group[0]}', the most common spelling.",
            [action("Merge the spellings", "merge_labels", column=target)]))
    merged: dict[str, int] = {}  # judge sizes as they will be once the spellings are merged
    for label, n in counts.items():
        key = normalised_label(label) if spellings else label
        merged[key] = merged.get(key, 0) + n
    rare = {label: n for label, n in counts.items() if merged[normalised_label(label) if spellings else label]
            < MIN_CLASS_EXAMPLES}
    if rare:
        shown = ", ".join(f"'{label}' ({n})" for label, n in list(rare.items())[:8])
        droppable = len(merged) - len(rare) >= 2  # dropping them must leave two classes
        problems.append(problem(
            "rare_classes", "warning", f"{counted(len(rare), 'class', 'classes')} with fewer than {MIN_CLASS_EXAMPLES} examples: {shown}",
            "Too few examples to learn these classes, and the split cannot put one of each in training, "
            "validation and test, so their scores are unreliable.",
            "Add more examples of these classes" + (", or drop them." if droppable else "."),
            [action(f"Drop classes with fewer than {MIN_CLASS_EXAMPLES} examples", "drop_rare_classes",
                    column=target, min_count=MIN_CLASS_EXAMPLES)] if droppable else []))
    if merged:
        smallest, largest = min(merged.values()), max(merged.values())
        if largest >= 10 * smallest:
            problems.append(problem(
                "imbalance", "warning", f"Classes are unbalanced ({largest:,} vs {smallest:,} examples)",
                "The model may learn to favour the big classes; accuracy alone can mislead.",
                "Collect more examples of the small classes, and judge the model by F1 rather than accuracy."))
    return problems


def duplicate_problems(duplicates: int, conflicting: int, what: str = "rows", inputs: str = "inputs",
                       task: str = "classification") -> list[dict[str, Any]]:
    problems = []
    if duplicates:
        problems.append(problem(
            "duplicates", "warning", f"{counted(duplicates, 'duplicate ' + what.rstrip('s'))}",
            "Copies can land in both the training and the test split, making the test score look better than "
            "it is, and they weigh their examples more than the others.",
            f"Drop the duplicate {what}, keeping one of each.",
            [action(f"Drop duplicate {what}", "drop_duplicates")]))
    title = (f"{counted(conflicting, inputs.rstrip('s'), inputs)} {'appears' if conflicting == 1 else 'appear'} "
             "with different answers")
    if conflicting and task == "regression":
        problems.append(problem(
            "conflicting_labels", "info", title,
            "For measured numbers this is often natural variation: the model learns their average, and some "
            "error remains whatever the model.", "Nothing to do, unless some of those numbers are mistakes."))
    elif conflicting:
        problems.append(problem(
            "conflicting_labels", "serious", title,
            "The same input labelled two ways teaches the model a contradiction; no model can get both right.",
            "Correct those rows' answers at the source, or drop them here (every row of such an input goes).",
            [action(f"Drop the {inputs} with conflicting answers", "drop_conflicts")]))
    return problems


def quality_report(frame: pd.DataFrame, target: str, task: str) -> dict[str, Any]:
    """Give back a JSON-able report of a table: sizes, types, missing cells, duplicates, balance and problems."""
    report = table_basics(frame)
    types = report["types"]
    inputs = [column for column in frame.columns if column != target]
    duplicates, conflicting = duplicate_counts(frame, target, inputs)
    constant = [column for column in frame.columns if is_constant(frame[column], report["missing"][column])]
    report.update(duplicate_rows=duplicates, conflicting_duplicates=conflicting, constant_columns=constant)
    problems = missing_problems(report, target)
    problems += duplicate_problems(duplicates, conflicting, inputs="input combinations", task=task)
    if task == "classification":
        counts = frame[target].dropna().astype(str).value_counts()
        report["class_counts"] = {str(k): int(v) for k, v in counts.items()}
        problems += class_problems(report["class_counts"], target)
    else:
        values = frame[target].dropna().astype(float)
        report["target_stats"] = {"min": float(values.min()), "max": float(values.max()),
                                  "mean": float(values.mean()), "std": float(values.std()),
                                  "median": float(values.median())}
    for column in constant:
        problems.append(problem(
            "constant", "info", f"'{column}' has the same value in every row",
            "It carries no information, so training ignores it.",
            "Nothing to do, or remove the column.", [action(f"Remove '{column}'", "drop_column", column=column)]))
    report["outliers"] = {}
    for column in inputs + ([target] if task == "regression" else []):
        if types.get(column) != "number" or column in constant:
            continue
        fences = outlier_fences(frame[column], (3.0, 10.0))
        if fences is None:
            continue
        (bounds, extreme), values = fences, frame[column].to_numpy(dtype=float, na_value=np.nan)
        far = int(np.count_nonzero((values < bounds[0]) | (values > bounds[1])))
        if far:
            wild = int(np.count_nonzero((values < extreme[0]) | (values > extreme[1])))
            report["outliers"][column] = {"count": far, "low": bounds[0], "high": bounds[1], "extreme": wild}
            problems.append(problem(
                "outliers", "warning" if wild else "info",
                f"{counted(far, 'value')} in '{column}' {'lies' if far == 1 else 'lie'} far outside its usual range ({bounds[0]:.4g} to {bounds[1]:.4g})",
                "Extreme values stretch the scaling of the column and pull the model towards them; if they are "
                "typing or unit errors the model learns from wrong numbers.",
                "Check them at the source; if they are errors, clip them to the usual range.",
                [action("Clip to the usual range", "clip_outliers", column=column)]))
    for column in inputs:
        if column in constant:
            continue
        if looks_like_id(frame[column], column):
            problems.append(problem(
                "id_column", "warning", f"'{column}' looks like an identifier (a different value in almost every row)",
                "An identifier names a row rather than describing it: the model can only memorise it, which does "
                "not help with new rows.",
                f"Remove '{column}'.", [action(f"Remove '{column}'", "drop_column", column=column)]))
        elif types.get(column) in ("category", "text"):
            distinct = int(frame[column].nunique())
            if distinct > MAX_CATEGORIES:
                problems.append(problem(
                    "many_categories", "info", f"'{column}' has {distinct:,} different values",
                    f"Only its {MAX_CATEGORIES} most common values are used; the rest count as one 'other' value.",
                    "Group rare values into broader ones at the source if they matter."))
    numbered = [column for column in frame.columns if _is_number(column)]
    if len(numbered) >= max(2, frame.shape[1] // 2):
        problems.append(problem(
            "header_like_data", "warning", f"The column names look like data: {', '.join(numbered[:6])}",
            "The first row may be a description or a row of data rather than the columns' names: the columns "
            "have meaningless names, and a row of data would be lost.",
            "Check the first row of the file; give each column a name in it."))
    report["problems"] = problems
    return report


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
