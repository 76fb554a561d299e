"""The quality report of an image data set: counts, sizes, modes, unreadable and unlabelled files, and the problems
found, each with its effect on training and its fix."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from engine.data.profile import action, counted, problem
from engine.data.table_report import class_problems, duplicate_problems

MAX_LISTED = 1000  # files a quality report names per list (unreadable, unlabelled…); its counts stay exact
LISTS = ("unreadable", "skipped", "other_files", "missing_files")


def listed_count(report: dict[str, Any], key: str) -> int:
    """Give back how many files a report's list (unreadable, skipped…) holds, though it names MAX_LISTED at most."""
    return int(report.get("counts", {}).get(key, len(report.get(key, []))))


def image_quality_report(index: pd.DataFrame, height: int, width: int, channels: int,
                         layout: dict[str, Any] | None = None) -> dict[str, Any]:
    """Give back a JSON-able report of an image data set: counts, sizes, modes, unreadable files, problems.

    Each list of files names MAX_LISTED at most, so a ZIP of many junk files makes no huge report;
    report["counts"] keeps each list's whole count (layout["counts"] carries them over from an earlier report).
    """
    layout = layout or {}
    readable = index[index["readable"]]
    counts = readable["label"].value_counts()
    sizes = Counter(f"{w} × {h}" for w, h in zip(readable["width"], readable["height"]))
    unreadable = [{"file": f, "why": w} for f, w in zip(index.loc[~index["readable"], "file"],
                                                        index.loc[~index["readable"], "why"])]
    keyed = readable[["digest", "label"]]
    duplicates = int(keyed.duplicated().sum())
    per_digest = keyed.drop_duplicates().groupby("digest")["label"].nunique()
    conflicting = int((per_digest > 1).sum())
    report: dict[str, Any] = {
        "rows": int(len(readable)),
        "images": int(len(readable)),
        "files": int(len(index)),
        "class_counts": {str(k): int(v) for k, v in counts.items()},
        "image_size": {"height": height, "width": width, "channels": channels},
        "sizes": dict(sizes.most_common(20)),
        "distinct_sizes": len(sizes),
        "smallest": {"width": int(readable["width"].min()), "height": int(readable["height"].min())},
        "largest": {"width": int(readable["width"].max()), "height": int(readable["height"].max())},
        "modes": {str(k): int(v) for k, v in readable["mode"].value_counts().items()},
        "formats": {str(k): int(v) for k, v in readable["format"].value_counts().items()},
        "animated": int((readable["frames"] > 1).sum()),
        "unreadable": unreadable,
        "duplicate_images": duplicates,
        "conflicting_duplicates": conflicting,
        "skipped": layout.get("skipped", []),
        "other_files": layout.get("other_files", []),
        "missing_files": layout.get("missing_files", []),
        "missing": {},
    }
    carried = layout.get("counts", {})  # a cleaned version's lists come capped from its source's report
    report["counts"] = {key: int(carried.get(key, len(report[key]))) for key in LISTS}
    report["counts"]["unreadable"] = len(unreadable)  # the index lists every file: always exact
    skipped_reasons = layout.get("skipped_reasons") or dict(Counter(item["why"] for item in report["skipped"]))
    report["skipped_reasons"] = skipped_reasons
    for key in LISTS:
        report[key] = report[key][:MAX_LISTED]
    problems = []
    if unreadable:
        shown = ", ".join(f"'{item['file']}'" for item in unreadable[:5])
        problems.append(problem(
            "unreadable", "warning", f"{counted(len(unreadable), 'file')} could not be read as images ({shown})",
            "They are skipped: training uses the other images only.",
            "Replace them with good copies, or drop them from the data set.",
            [action("Drop the unreadable images", "drop_unreadable")]))
    problems += duplicate_problems(duplicates, conflicting, what="images", inputs="identical images")
    problems += class_problems(report["class_counts"], "label")
    if len(sizes) > 1:
        problems.append(problem(
            "mixed_sizes", "info", f"The images come in {len(sizes)} different sizes",
            f"Every image is resized to {width} × {height} pixels; pictures of another shape are stretched.",
            "Nothing to do, or choose another size that is close to most images."))
    if channels == 3 and readable["grey"].any() and not readable["grey"].all():
        problems.append(problem(
            "mixed_colour", "info", f"{int(readable['grey'].sum()):,} images are grey and the rest in colour",
            "Grey images are turned into colour images with three equal channels, so colour cannot be used as "
            "a clue for them.", "Nothing to do, unless the grey images belong to one class only."))
    small = int(((readable["width"] < width / 2) | (readable["height"] < height / 2)).sum())
    if small:
        problems.append(problem(
            "small_images", "info", f"{counted(small, 'image')} {'is' if small == 1 else 'are'} much smaller than {width} × {height}",
            "They are enlarged, which blurs them: the model sees less detail than in the others.",
            "Use a smaller image size, or better copies of those images."))
    if report["animated"]:
        problems.append(problem(
            "animated", "info", f"{report['animated']:,} images are animations",
            "Only their first frame is used.", "Nothing to do, unless another frame shows the subject better."))
    if report["skipped"]:
        problems.append(problem(
            "unlabelled", "warning", f"{listed_count(report, 'skipped'):,} images have no label and are left out "
            f"({'; '.join(f'{n} {why}' for why, n in skipped_reasons.items())})",
            "They are not used for training or testing.",
            "Put them in a class folder or list them with a label, then add the archive again."))
    if report["missing_files"]:
        problems.append(problem(
            "missing_files", "warning",
            f"{listed_count(report, 'missing_files'):,} files named in the label file are not in the ZIP",
            "Those examples are missing from training.",
            "Add the missing images to the ZIP, or remove them from the label file."))
    report["problems"] = problems
    return report
