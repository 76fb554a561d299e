"""Adding a data set: validate first, write to a temporary folder, then store it in one step.

A data set's folder holds its table (table.arrow) or, for images, the archive as sent (images.zip), one
index row per image (index.arrow) and the decoded pixels at the chosen size (pixels-HxW.npy).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from db import repo
from db.session import trainyard_home
from engine.data.archive import open_zip
from engine.data.image_report import image_quality_report
from engine.data.images import inspect_image_zip, read_image_zip
from engine.data.limits import DEFAULT_MAX_FILE_MB, max_file_bytes  # noqa: F401  (kept importable from here)
from engine.data.packed import PACKED_SUFFIXES, packed_title, unpack_table
from engine.data.profile import CHOSEN, check_target, guess_target, guess_task
from engine.data.ratings import (
    check_ratings,
    find_rating_columns,
    rating_reason,
    ratings_kind_reason,
    ratings_quality_report,
)
from engine.data.table_report import quality_report
from engine.data.tables import (
    DECIMAL_COMMA,
    EMPTY,
    EMPTY_MARKS,
    ENCODING_WORDS,
    SIGNS,
    TABLE_FILES,
    TABLE_SUFFIXES,
    THOUSANDS_COMMAS,
    read_table,
    without_row_numbers,
)
from engine.data.text import check_text, text_kind_reason, text_quality_report
from engine.errors import DataError
from engine.files import file_sha256
from engine.words import some_of

KINDS = ("tabular", "image", "text", "ratings")
KIND_WORDS = {"tabular": "a table", "image": "images", "text": "texts", "ratings": "ratings"}
TABLE_FILE = "table.arrow"
LEGACY_TABLE_FILE = "table.parquet"
INDEX_FILE = "index.arrow"
ARCHIVE_FILE = "images.zip"


def datasets_dir() -> Path:
    folder = trainyard_home() / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def uploads_dir() -> Path:
    """Give back the folder where the dashboard keeps a copy of each file being uploaded."""
    folder = trainyard_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


LEFTOVER_SECONDS = 24 * 3600


def _last_touched(path: Path) -> float:
    """Give back the newest modification time of path and, for a folder, of what it holds."""
    times = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        times += [child.lstat().st_mtime for child in path.rglob("*")]
    return max(times)


def remove_leftovers(older_than_seconds: float = LEFTOVER_SECONDS) -> list[Path]:
    """Remove what failed or abandoned imports left behind; give back what was removed.

    That is the `.incoming-*` folders of imports that were killed and the dashboard's copies of uploads that
    were refused, replaced or abandoned, once untouched for older_than_seconds (an import may still be
    running in another process) and unless a data set refers to them.
    """
    in_use = {Path(d["files_path"]).resolve() for d in repo.list_datasets() if d.get("files_path")}
    candidates = [*datasets_dir().glob(".incoming-*"), *uploads_dir().iterdir()]
    cutoff = time.time() - older_than_seconds
    removed = []
    for path in candidates:
        try:
            if path.resolve() in in_use or any(parent in in_use for parent in path.resolve().parents):
                continue
            if _last_touched(path) > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:  # gone already, or another process is removing it
            continue
        removed.append(path)
    return removed


def pixels_file(height: int, width: int) -> str:
    return f"pixels-{height}x{width}.npy"


def in_background(function, *args) -> Future:
    """Give back a Future of function(*args) running on a thread (hashing and writing release the GIL)."""
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(function, *args)
    executor.shutdown(wait=False)
    return future


def unique_name(wanted: str) -> str:
    """Give back wanted, or wanted with ' (2)', ' (3)'… when a data set already has that name."""
    if "\x00" in wanted:  # PostgreSQL refuses it, and no one means to type it
        raise DataError("The name holds an invisible NUL character (often left by copying from another program). "
                        "Type the name again without it.")
    wanted = re.sub(r"\s+", " ", wanted).strip()[:180] or "data set"
    name, number = wanted, 2
    while repo.dataset_name_taken(name):
        name, number = f"{wanted} ({number})", number + 1
    return name


def check_file_size(size: int, name: str, max_bytes: int | None = None) -> None:
    """Raise DataError when a file of size bytes is over the limit, saying the limit."""
    limit = max_file_bytes() if max_bytes is None else max_bytes
    if size > limit:
        raise DataError(f"'{name}' is {size / (1 << 20):,.1f} MB, more than the limit of {limit / (1 << 20):,.0f} MB. "
                        "Use a smaller file (for example fewer rows or smaller images), or add it from the "
                        "command line: python -m engine datasets add PATH.")


# ---------------------------------------------------------------- staging


@contextlib.contextmanager
def staging_folder() -> Iterator[Path]:
    """Give a fresh hidden folder for a new data set's files; it is removed if anything fails."""
    staging = datasets_dir() / f".incoming-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def commit_dataset(staging: Path, **fields: Any) -> dict[str, Any]:
    """Move the staged files into place and insert the data set's row; give back the row."""
    final = datasets_dir() / uuid.uuid4().hex
    staging.rename(final)
    try:
        return repo.create_dataset(files_path=str(final), **fields)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Store a table as an uncompressed Arrow file: written and read back at memory speed."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    feather.write_feather(table, path, compression="uncompressed")


def load_table(dataset: dict[str, Any]) -> pd.DataFrame:
    """Give back the stored table of a data set."""
    folder = Path(dataset["files_path"])
    if (folder / TABLE_FILE).exists():
        return feather.read_feather(folder / TABLE_FILE)
    if (folder / LEGACY_TABLE_FILE).exists():
        return pd.read_parquet(folder / LEGACY_TABLE_FILE)
    raise DataError(f"The files of data set '{dataset['name']}' are missing from {folder}.")


def load_index(dataset: dict[str, Any]) -> pd.DataFrame:
    """Give back the index of an image data set: one row per file, readable or not."""
    return feather.read_feather(Path(dataset["files_path"]) / INDEX_FILE)


def load_pixels(dataset: dict[str, Any]) -> np.ndarray:
    """Give back the stored uint8 pixels (N, height, width, channels) of an image data set."""
    schema = dataset["schema"]
    return np.load(Path(dataset["files_path"]) / pixels_file(schema["height"], schema["width"]))


# ---------------------------------------------------------------- detection


# How a file was read where it differs from the plain case, as detection says it: (title, its reason's key).
READING_NOTES = (("Sheet", "sheet_reason"), ("Notes above the table", "notes_reason"),
                 ("No header row", "header_reason"), ("Row numbers", "row_numbers_reason"),
                 ("Text encoding", "encoding_reason"), ("Numbers", "numbers_reason"), ("Dates", "dates_reason"))
WRITTEN_WORDS = {DECIMAL_COMMA: "with a decimal comma (3,5 for three and a half)",
                 THOUSANDS_COMMAS: "with commas between thousands (1,234.5)",
                 SIGNS: "with a currency or percent sign, which is left out (45 % is read as 45)",
                 EMPTY: f"with {' or '.join(EMPTY_MARKS[:2])} for an empty cell, which is read as empty"}


def _written_numbers_reason(written: dict[str, list[str]]) -> str:
    """Say which columns held numbers written for people, read as numbers (engine.data.tables)."""
    parts = []
    for way, words in WRITTEN_WORDS.items():
        columns = [column for column, ways in written.items() if way in ways]
        if columns:
            named = some_of([f"'{column}'" for column in columns], 3)
            parts.append(f"{named} {'holds' if len(columns) == 1 else 'hold'} numbers written {words}")
    return "; ".join(parts) + ": they are read as numbers"


def inspect_table(frame: pd.DataFrame, target: str | None = None, task: str | None = None, kind: str = "auto",
                  text_column: str | None = None, roles: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Give back the detected kind, target and task of a table, each with the reason, storing nothing.

    Whatever is passed in is kept (its reason is CHOSEN, "you chose it"); the rest is detected.
    """
    if kind not in ("auto", "tabular", "text", "ratings"):
        raise DataError(f"A table cannot be a data set of {KIND_WORDS.get(kind, kind)}. Choose tabular, text or "
                        "ratings, or send images as a ZIP archive.")
    found_roles, ratings_reason = ratings_kind_reason(frame, target)
    found_text, text_reason = text_kind_reason(frame)
    if kind != "auto":
        kind_reason = CHOSEN
    elif found_roles:
        kind, kind_reason = "ratings", ratings_reason
    elif roles:  # columns given for a ratings set's roles make it one, to be checked as one
        kind, kind_reason = "ratings", "you chose its columns of users, items and ratings"
    elif found_text:
        kind, kind_reason = "text", text_reason
    else:
        kind, kind_reason = "tabular", "its columns are measurements and categories, with one to predict"
    detected: dict[str, Any] = {"kind": kind, "kind_reason": kind_reason}
    encoding = frame.attrs.get("encoding", "utf-8")
    if encoding not in ("utf-8", "utf-8-sig", "ascii"):
        detected["encoding_reason"] = (f"its text is not UTF-8; it was read as {ENCODING_WORDS.get(encoding, encoding)}"
                                       ", so accented letters come out right")
    written = {column: ways for column, ways in frame.attrs.get("written_numbers", {}).items() if column in frame}
    if written:
        detected["numbers_reason"] = _written_numbers_reason(written)
    if frame.attrs.get("header") == "none":
        value = frame.attrs.get("first_row_value")
        holds = (f"values, not names ('{value}' is also found further down its column)" if value else
                 "numbers, not names")
        last = f"{'and' if frame.shape[1] == 2 else 'to'} column {frame.shape[1]}"
        detected["header_reason"] = (f"the first row holds {holds}, so it is read as data and the columns are called "
                                     f"column 1 {last}")
    if frame.attrs.get("sheet"):
        sheet, names = frame.attrs["sheet"]
        shown = some_of([f"'{name}'" for name in names])
        detected["sheet_reason"] = (f"the workbook holds {len(names)} sheets ({shown}); '{sheet}', the largest, was "
                                    "read. To learn from another, save that sheet alone as a CSV file and add it")
    if frame.attrs.get("notes_above"):
        header_line, lines = frame.attrs["notes_above"]
        shown = some_of([f"'{line[:60]}'" for line in lines], 2)
        detected["notes_reason"] = (f"{shown} {'is' if len(lines) == 1 else 'are'} written above the table, not in "
                                    f"it, so the table is read from line {header_line} on")
    if frame.attrs.get("row_numbers"):
        low, high = frame.attrs["row_numbers"]
        detected["row_numbers_reason"] = (f"the first column, which has no name, only numbers the rows ({low:,} to "
                                          f"{high:,}), as programs do when they save a table; it is left out, as the "
                                          "place of a row in the file tells nothing about it")
    if kind == "ratings":
        chosen = dict(roles or {})  # a role given as None means "none", e.g. no timestamp column
        roles = {**(found_roles or find_rating_columns(frame)), **chosen}
        if target:
            roles["rating"] = target
        detected.update(roles=roles, target=roles.get("rating"), task="rating",
                        target_reason=CHOSEN if target or chosen.get("rating") else
                        (rating_reason(frame, roles["rating"]) if roles.get("rating") else "none found"),
                        task_reason="ratings are predicted as numbers for each user and item")
        return detected
    if kind == "text":
        if text_column:
            text_reason = CHOSEN
        else:
            text_column, text_reason = found_text, text_reason
            if text_column is None:
                from engine.data.text import find_text_column

                text_column, text_reason = find_text_column(frame)
            if text_column is None:
                raise DataError("No column holds sentences to learn from. Choose the text column yourself.")
        detected.update(text_column=text_column, text_reason=text_reason)
    exclude = (text_column,) if kind == "text" and text_column else ()
    if target is None:
        target, target_reason = guess_target(frame, exclude=exclude, excluded_as="the texts")
    else:
        target_reason = CHOSEN
    if target not in frame.columns:
        raise DataError(f"There is no column named '{target}'. Choose one of: {', '.join(frame.columns)}.")
    if kind == "text":
        task, task_reason = "classification", "text data sets are classified"
    elif task is None:
        task, task_reason = guess_task(frame[target])
    else:
        task_reason = CHOSEN
    detected.update(target=target, target_reason=target_reason, task=task, task_reason=task_reason)
    dates = [column for column in frame.columns
             if column != target and pd.api.types.is_datetime64_any_dtype(frame[column])]
    if dates and kind == "tabular":
        detected["dates_reason"] = _dates_reason(dates)
    return detected


def _dates_reason(dates: list[str]) -> str:
    """Say which input columns hold dates, and what of a date the model reads (engine.data.prepare_tables)."""
    from engine.data.prepare_tables import DATE_PART_WORDS

    named = some_of([f"'{column}'" for column in dates], 3)
    words = list(DATE_PART_WORDS.values())
    return (f"{named} {'holds' if len(dates) == 1 else 'hold'} dates: the model reads each as {', '.join(words[:-1])} "
            f"and {words[-1]}, where they differ from row to row")


def describe_table(frame: pd.DataFrame, detected: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a table of the detected kind; give back (quality report, the data set row's fields)."""
    kind, target, task = detected["kind"], detected.get("target"), detected.get("task")
    if task not in ("classification", "regression", "rating"):
        raise DataError(f"'{task}' is not a task Trainyard knows. Choose classification or regression.")
    schema: dict[str, Any] = {}
    if kind == "ratings":
        roles = detected["roles"]
        check_ratings(frame, roles)
        report = ratings_quality_report(frame, roles)
        schema["roles"] = roles
        n_classes = None
    elif kind == "text":
        check_text(frame, detected["text_column"], target)
        check_target(frame, target, "classification")
        report = text_quality_report(frame, detected["text_column"], target)
        schema.update(text_column=detected["text_column"], label_column=target)
        n_classes = len(report["class_counts"])
    else:
        if task == "rating":
            raise DataError("The task 'rating' is for ratings data sets (user, item, rating).")
        check_target(frame, target, task)
        report = quality_report(frame, target, task)
        n_classes = len(report["class_counts"]) if task == "classification" else None
    schema["columns"] = report["types"]
    report["detected"] = detected
    fields = {"kind": kind, "task": task, "target": target, "n_rows": int(len(frame)),
              "n_columns": int(frame.shape[1]), "n_classes": n_classes, "schema": schema}
    return report, fields


# ---------------------------------------------------------------- adding


def add_dataset(path: str | Path, name: str | None = None, kind: str = "auto", target: str | None = None,
                task: str | None = None, original_name: str | None = None, *, text_column: str | None = None,
                roles: dict[str, str | None] | None = None, image_size: tuple[int, int] | None = None,
                max_bytes: int | None = None) -> dict[str, Any]:
    """Validate the file at path and store it as a new data set; give back its row.

    kind is auto, tabular, image, text or ratings; target is the column to predict (the label of a text
    set, the rating of a ratings set); roles may name the ratings' user, item, rating and timestamp columns;
    image_size is (height, width). Raises DataError with a plain message; on any failure nothing is left.
    """
    path = Path(path)
    original_name = original_name or path.name
    if path.is_dir():
        raise DataError(f"'{original_name}' is a folder. Choose a file: a table ({TABLE_FILES}) or a ZIP "
                        "of images.")
    if not path.exists():
        raise DataError(f"There is no file at '{path}'.")
    if kind not in ("auto", *KINDS):
        raise DataError(f"'{kind}' is not a kind of data set. Choose one of: auto, {', '.join(KINDS)}.")
    check_file_size(path.stat().st_size, original_name, max_bytes)
    suffix = Path(original_name).suffix.lower()
    if suffix in PACKED_SUFFIXES and kind != "image":
        with tempfile.TemporaryDirectory(dir=uploads_dir()) as folder:
            unpacked = unpack_table(path, original_name, Path(folder), max_bytes)
            if unpacked:
                return add_dataset(unpacked[0], name or packed_title(original_name, unpacked[1]), kind, target, task,
                                   unpacked[1], text_column=text_column, roles=roles, max_bytes=max_bytes)
    digest = in_background(file_sha256, path)
    title = unique_name(name or Path(original_name).stem)
    if suffix == ".zip":
        if kind not in ("auto", "image"):
            raise DataError(f"'{original_name}' holds no table, so it is read as pictures, not as "
                            f"{KIND_WORDS[kind]}. Choose the kind 'image', or add a table.")
        return _add_images(path, original_name, title, image_size, digest)
    if kind == "image":
        raise DataError(f"Images come as a ZIP archive (one folder per class); '{original_name}' is not one.")
    if suffix and suffix not in TABLE_SUFFIXES:
        packed = " Unpack it first, then add the file inside." if suffix in (".7z", ".rar", ".tar", ".tgz") else ""
        raise DataError(f"'{original_name}' is not a file Trainyard can read. Use a table ({TABLE_FILES}) or a ZIP "
                        f"archive of images.{packed}")
    frame = without_row_numbers(read_table(path, original_name))
    detected = inspect_table(frame, target, task, kind, text_column, roles)
    with staging_folder() as staging:
        writing = in_background(write_table, frame, staging / TABLE_FILE)
        try:
            report, fields = describe_table(frame, detected)
        finally:
            writing.exception()  # wait for the file before the folder may be removed
        writing.result()
        return commit_dataset(staging, name=title, quality_report=report, source_name=original_name,
                              sha256=digest.result(), **fields)


def _add_images(path: Path, original_name: str, title: str, image_size: tuple[int, int] | None,
                digest: Future) -> dict[str, Any]:
    with open_zip(path, original_name) as archive:
        images = read_image_zip(archive, original_name, image_size, path)
    height, width, channels = images.pixels.shape[1], images.pixels.shape[2], images.pixels.shape[3]
    layout = {"how": images.layout.how, "reason": images.layout.reason, "label_file": images.layout.label_file,
              "skipped": images.layout.skipped, "other_files": images.layout.other_files,
              "missing_files": images.layout.missing_files}
    report = image_quality_report(images.index, height, width, channels, layout)
    report["detected"] = {"kind": "image", "kind_reason": "it is a ZIP archive of images",
                          "target": "label", "target_reason": images.layout.reason,
                          "task": "classification", "task_reason": "each image gets one class",
                          "size_reason": images.size_reason}
    schema = {"height": height, "width": width, "channels": channels, "how": images.layout.how,
              "label_file": images.layout.label_file,
              "columns": {"file": "text", "label": "category"}}
    with staging_folder() as staging:
        shutil.copyfile(path, staging / ARCHIVE_FILE)
        write_table(images.index, staging / INDEX_FILE)
        np.save(staging / pixels_file(height, width), images.pixels)
        return commit_dataset(staging, name=title, kind="image", task="classification", target="label",
                              n_rows=report["images"], n_columns=2, n_classes=len(report["class_counts"]),
                              schema=schema, quality_report=report, source_name=original_name,
                              sha256=digest.result())


def inspect_zip(path: str | Path, original_name: str | None = None) -> dict[str, Any]:
    """Give back what an image ZIP holds and the suggested size, without storing anything."""
    name = original_name or Path(path).name
    with open_zip(path, name) as archive:
        return inspect_image_zip(archive, name)
