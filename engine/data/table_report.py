"""The quality report of a table (sizes, types, missing cells, duplicates, balance, outliers, identifiers), and
the problems it shares with the other kinds' reports: missing cells, duplicates and classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.data.columns import (
    column_types,
    duplicate_counts,
    is_constant,
    label_spellings,
    looks_like_id,
    normalised_label,
    outlier_fences,
    rarely_different,
)
from engine.data.profile import (
    MAX_CATEGORIES,
    MIN_CLASS_EXAMPLES,
    MIN_EMPTY_ROWS,
    action,
    counted,
    problem,
    spread_sample,
)
from engine.data.prepare_tables import common_words
from engine.data.tables import is_number
from engine.models.zoo.mlp import FEWEST_DIFFERENT_ROWS, MIN_WORD_ROWS, TABLE_WORDS
from engine.words import some_of


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
        kind = report["types"].get(column)
        numeric = kind in ("number", "date")
        fill = (action("Fill with the median", "fill_missing", column=column, method="median") if numeric
                else action("Fill with the most common value", "fill_missing", column=column, method="mode"))
        noun = "dates" if kind == "date" else "numbers"
        if numeric:
            effect = (f"Missing {roles} {noun} are filled with the column's median. Where at least {MIN_EMPTY_ROWS} "
                      "training rows lack one, the model is also told which rows do: it can learn what a gap means, "
                      f"but not the {noun[:-1]} that belongs there.")
        elif kind == "text":
            effect = f"A missing {roles} text is read as one that holds none of the words the model knows."
        else:
            effect = f"Missing {roles} values are read as a value of their own, '(missing)'."
        problems.append(problem(
            "missing", "warning" if share < 0.3 else "serious", title,
            effect + (" With this many gaps the column may mislead more than it helps." if share >= 0.3 else ""),
            "Fill them in at the source" + (" or drop the rows." if kind == "text" else
                                            ", fill them here, or drop the rows."),
            ([] if kind == "text" else [fill]) + [action("Drop these rows", "drop_missing", column=column)]))
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
            [action(f"Drop the conflicting {what}", "drop_conflicts")]))
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
    if len(constant) == 1:
        problems.append(problem(
            "constant", "info", f"'{constant[0]}' has the same value in every row",
            "It carries no information, so training ignores it.",
            "Nothing to do, or remove the column.", [action(f"Remove '{constant[0]}'", "drop_column",
                                                            column=constant[0])]))
    elif constant:  # one note, not a screenful of them (a table of fingerprint bits has dozens)
        shown = some_of([f"'{column}'" for column in constant])
        problems.append(problem(
            "constant", "info", f"{len(constant)} columns have the same value in every row: {shown}",
            "They carry no information, so training ignores them.", "Nothing to do, or remove them."))
    nearly = [column for column in inputs if types.get(column) == "number" and column not in constant
              and rarely_different(frame[column], FEWEST_DIFFERENT_ROWS)]
    report["nearly_constant_columns"] = nearly
    if nearly:
        names = [f"'{column}'" for column in nearly]
        problems.append(problem(
            "nearly_constant", "info",
            f"{counted(len(nearly), 'number column')} {'holds' if len(nearly) == 1 else 'hold'} the same value in all "
            f"but a few rows: {some_of(names)}",
            f"A number column whose rows differ from its most common value in fewer than {FEWEST_DIFFERENT_ROWS} "
            "training rows is not read: so few rows could only teach the model to recognise them, not a rule for "
            "new rows.",
            f"Nothing to do, or remove {'it' if len(nearly) == 1 else 'them'}.",
            [action(f"Remove {names[0]}", "drop_column", column=nearly[0])] if len(nearly) == 1 else None))
    unread = {*constant, *nearly}
    report["outliers"] = {}
    for column in inputs + ([target] if task == "regression" else []):
        if types.get(column) != "number" or column in unread:
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
        if column in unread:
            continue
        # A text column is read by its words where some recur (engine.data.prepare_tables), else as categories.
        words = types.get(column) == "text" and common_words(spread_sample(frame[column], 20_000))
        if types.get(column) in ("category", "text") and not words:  # how many values the network reads them in
            report.setdefault("category_values", {})[column] = int(frame[column].nunique())
        if words:
            problems.append(problem(
                "text_column", "info", f"'{column}' holds sentences",
                f"The model reads them by their words: which of up to {TABLE_WORDS:,} of the column's most common "
                f"words, each in {MIN_WORD_ROWS} training rows or more, a row's text holds, not their order.",
                "Nothing to do. If the texts alone give the answer, add the file again as texts to sort into "
                "classes: a model made for reading sentences then reads them, in their order."))
        elif looks_like_id(frame[column], column):
            problems.append(problem(
                "id_column", "warning", f"'{column}' looks like an identifier (a different value in almost every row)",
                "An identifier names a row rather than describing it: the model can only memorise it, which does "
                "not help with new rows.",
                f"Remove '{column}'.", [action(f"Remove '{column}'", "drop_column", column=column)]))
        elif column in report.get("category_values", {}):
            distinct = report["category_values"][column]
            if distinct > MAX_CATEGORIES:
                problems.append(problem(
                    "many_categories", "info", f"'{column}' has {distinct:,} different values",
                    f"Only its {MAX_CATEGORIES} most common values are used; the rest count as one 'other' value.",
                    "Group rare values into broader ones at the source if they matter."))
    numbered = [column for column in frame.columns if is_number(str(column))]
    if len(numbered) >= max(2, frame.shape[1] // 2):
        problems.append(problem(
            "header_like_data", "warning", f"The column names look like data: {', '.join(numbered[:6])}",
            "The first row may be a description or a row of data rather than the columns' names: the columns "
            "have meaningless names, and a row of data would be lost.",
            "Check the first row of the file; give each column a name in it."))
    report["problems"] = problems
    return report
