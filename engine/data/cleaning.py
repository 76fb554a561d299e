"""One-click fixes. Each makes a new version of a data set, linked to its source, which is kept.

A step is a plain dict, {"step": name, ...settings}, as the quality report's problems offer them in
"actions"; clean_dataset applies one and gives back the new data set's row. The new version's report
carries "before" (the source's figures) and "cleaning" (what the step changed). The fixes themselves are
engine.data.fixes's FIXES.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.fixes import IMAGE_STEPS, STEP_WORDS, TABLE_STEPS, clean_images, clean_table
from engine.data.image_report import image_quality_report
from engine.data.images import check_size, decode_archive
from engine.data.ingest import (
    ARCHIVE_FILE,
    INDEX_FILE,
    TABLE_FILE,
    commit_dataset,
    describe_table,
    inspect_table,
    load_index,
    load_pixels,
    load_table,
    pixels_file,
    staging_folder,
    unique_name,
    write_table,
)
from engine.data.profile import report_summary
from engine.errors import DataError


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _files_sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def step_words(step: dict[str, Any]) -> str:
    words = STEP_WORDS.get(step.get("step"), str(step.get("step")))
    if step.get("step") == "resize":
        words = f"resized to {step.get('width')} × {step.get('height')}"
    elif step.get("step") == "set_target":
        words = f"predicts '{step.get('target')}'"
    return words


def clean_dataset(dataset: dict[str, Any], step: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Apply one cleaning step to dataset and store the result as a new version; give back its row.

    Raises DataError when the step does not apply or would leave data that cannot be trained on.
    """
    step = {k: v for k, v in step.items() if k != "label"}
    if step.get("step") not in STEP_WORDS:
        raise DataError(f"'{step.get('step')}' is not a cleaning step. Choose one of: {', '.join(STEP_WORDS)}.")
    allowed = IMAGE_STEPS if dataset["kind"] == "image" else TABLE_STEPS
    if step["step"] not in allowed:
        raise DataError(f"'{STEP_WORDS[step['step']]}' does not apply to {dataset['kind']} data sets.")
    words = step_words(step)
    history = dataset["schema"].get("history", []) + [words]
    base = dataset["schema"].get("base_name", dataset["name"])
    title = unique_name(name or f"{base} – v{len(history) + 1}, {words}")
    before = report_summary(dataset["quality_report"])
    if dataset["kind"] == "image":
        return _clean_image_dataset(dataset, step, title, history, before, base)
    frame = load_table(dataset)
    detected = dict(dataset["quality_report"].get("detected") or {})
    if step["step"] == "set_target":
        detected = inspect_table(frame, step.get("target"), step.get("task"), dataset["kind"],
                                 dataset["schema"].get("text_column"), dataset["schema"].get("roles"))
        changed = f"now predicts '{detected['target']}' ({detected['task']})"
    else:
        detected.update(kind=dataset["kind"], target=dataset["target"], task=dataset["task"])
        if dataset["kind"] == "text":
            detected["text_column"] = dataset["schema"]["text_column"]
        if dataset["kind"] == "ratings":
            detected["roles"] = dataset["schema"]["roles"]
        frame, changed = clean_table(frame, step, dataset)
        frame = frame.reset_index(drop=True)
    if frame.empty:
        raise DataError("This fix would leave no rows at all, so nothing was changed.")
    report, fields = describe_table(frame, detected)
    report.update(before=before, cleaning={"step": step, "words": words, "changed": changed})
    fields["schema"].update(history=history, base_name=base)
    with staging_folder() as staging:
        write_table(frame, staging / TABLE_FILE)
        return commit_dataset(staging, name=title, quality_report=report, parent_id=dataset["id"],
                              source_name=dataset["source_name"], sha256=_files_sha256([staging / TABLE_FILE]),
                              **fields)


def _clean_image_dataset(dataset: dict[str, Any], step: dict[str, Any], title: str, history: list[str],
                         before: dict[str, Any], base: str) -> dict[str, Any]:
    from engine.data.profile import check_classes

    schema = dict(dataset["schema"])
    source = Path(dataset["files_path"])
    index = load_index(dataset)
    cleaned, changed = clean_images(index, step)
    readable = cleaned[cleaned["readable"]]
    if readable.empty:
        raise DataError("This fix would leave no images at all, so nothing was changed.")
    check_classes(readable["label"].value_counts(), "The cleaned data set")
    height, width = schema["height"], schema["width"]
    rows = readable["pixel_row"].to_numpy()
    if step["step"] == "resize":
        height, width = check_size(step.get("height", height), step.get("width", width))
        if (height, width) == (schema["height"], schema["width"]):
            raise DataError(f"Nothing to change: the images are already {width} × {height} pixels.")
        changed = f"every image resized to {width} × {height} pixels"
        with zipfile.ZipFile(source / ARCHIVE_FILE) as archive:
            pixels = decode_archive(archive, readable["file"].tolist(), height, width, schema["channels"])
    else:
        pixels = load_pixels(dataset)[rows]
    cleaned = cleaned.copy()
    cleaned["pixel_row"] = -1
    cleaned.loc[cleaned["readable"], "pixel_row"] = np.arange(len(readable))
    cleaned = cleaned.reset_index(drop=True)
    layout = {key: dataset["quality_report"].get(key, []) for key in ("skipped", "other_files", "missing_files")}
    layout.update(counts=dataset["quality_report"].get("counts", {}),
                  skipped_reasons=dataset["quality_report"].get("skipped_reasons"))
    report = image_quality_report(cleaned, height, width, schema["channels"], layout)
    report["detected"] = dataset["quality_report"].get("detected", {})
    report.update(before=before, cleaning={"step": step, "words": step_words(step), "changed": changed})
    schema.update(height=height, width=width, history=history, base_name=base)
    with staging_folder() as staging:
        _link_or_copy(source / ARCHIVE_FILE, staging / ARCHIVE_FILE)
        write_table(cleaned, staging / INDEX_FILE)
        np.save(staging / pixels_file(height, width), pixels)
        sha = _files_sha256([staging / INDEX_FILE, staging / pixels_file(height, width)])
        return commit_dataset(staging, name=title, kind="image", task="classification", target="label",
                              n_rows=report["images"], n_columns=2, n_classes=len(report["class_counts"]),
                              schema=schema, quality_report=report, parent_id=dataset["id"],
                              source_name=dataset["source_name"], sha256=sha)


def available_steps(dataset: dict[str, Any]) -> set[str]:
    return IMAGE_STEPS if dataset["kind"] == "image" else TABLE_STEPS
