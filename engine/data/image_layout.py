"""Which images a ZIP holds and the label of each: one folder per class, or images plus a table of file name →
label (a label file). Reads names and the label file only; decoding the pictures is engine.data.images's.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from engine.data.archive import file_name, folder_of, member_path, read_member, suffix_of
from engine.data.profile import guess_target
from engine.data.tables import frame_from_bytes
from engine.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LABEL_FILE_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx"}
FILE_COLUMN_NAMES = ("file", "filename", "file_name", "image", "image_name", "path", "name", "img")


@dataclass
class ImageLayout:
    """Which images an archive holds and the label of each."""

    members: list[zipfile.ZipInfo]
    labels: list[str]
    how: str  # "folders", "names" or "label file"
    reason: str
    label_file: str | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "why"}
    other_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)  # named in the label file, absent from the ZIP


def is_image_name(name: str) -> bool:
    return suffix_of(name) in IMAGE_SUFFIXES


# ---------------------------------------------------------------- layout


def find_layout(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], name: str) -> ImageLayout:
    """Give back the images of the archive with their labels, or raise DataError saying what is missing."""
    images = [info for info in members if is_image_name(info.filename)]
    tables = [info for info in members if suffix_of(info.filename) in LABEL_FILE_SUFFIXES]
    if not images:
        listed = ", ".join(info.filename for info in members[:5]) or "nothing"
        raise DataError(f"'{name}' holds no images (PNG, JPEG, BMP, GIF, WebP or TIFF); it holds {listed}. "
                        "Put the pictures in the ZIP, one folder per class.")
    known = {info.filename for info in images} | {info.filename for info in tables}
    others = [info.filename for info in members if info.filename not in known]
    if tables:
        try:
            layout = _layout_from_label_file(archive, images, tables, name)
        except DataError as label_error:
            try:  # a notes file beside class folders is not a label file
                layout = _layout_from_folders(images, name)
            except DataError:
                raise label_error from None
    else:
        layout = _layout_from_folders(images, name)
    layout.other_files = others + [info.filename for info in tables if info.filename != layout.label_file]
    return layout


def _layout_from_folders(images: list[zipfile.ZipInfo], name: str) -> ImageLayout:
    parents = [folder_of(member_path(info.filename)) for info in images]
    common = None  # the folder every image sits in, at any depth: a wrapper, not a class
    for parent in set(parents):
        parts = parent.split("/") if parent else []
        if common is None:
            common = parts
        while common != parts[: len(common)]:
            common = common[:-1]
    root = "/".join(common or [])
    members, labels, skipped = [], [], []
    for info, parent in zip(images, parents):
        if parent == root:
            skipped.append({"file": info.filename, "why": "not inside a class folder"})
        else:
            members.append(info)
            labels.append(file_name(parent))
    if not members:
        named = _layout_from_names(images)
        if named:
            return named
    if not members and root:
        raise DataError(
            f"'{name}' has all its {len(images):,} images in one folder, so there is only one class "
            f"('{file_name(root)}'). A model needs at least two: put each class's images in its own folder "
            "(for example cats/ and dogs/) and zip those folders together."
        )
    if not members:
        raise DataError(
            f"'{name}' has {len(images):,} images but no labels. Put each class's images in its own folder "
            "(for example cats/ and dogs/) and zip those folders, or add a CSV file that lists each image's "
            "file name and its label."
        )
    classes = len(set(labels))
    return ImageLayout(members, labels, "folders",
                       f"the images sit in {classes} folders, and each folder's name is taken as the class",
                       skipped=skipped)


# Pictures in one folder may be named by their class: 'cat.12.jpg', 'Abyssinian_3.jpg', 'great_pyrenees (4).png'. A
# class is words, no digits; what a camera, a phone or a screen grab names a picture is no class.
CLASS_AND_NUMBER = re.compile(r"(?P<label>[^\W\d_]+(?:[ ._-][^\W\d_]+)*)[\s._-]*\(?\d+\)?")
CAMERA_NAMES = {"img", "image", "images", "dsc", "dscn", "dscf", "dcim", "pxl", "photo", "photos", "pic", "picture",
                "pictures", "screenshot", "screen shot", "screen_shot", "scan", "frame", "vid", "mvimg", "gopr", "snap",
                "capture", "untitled", "file", "sample", "p"}
MOST_UNNAMED = 0.1  # share of pictures whose names hold no class, at most, for the names to be the labels
FEWEST_NAMED = 5  # pictures of each class, at least


def _layout_from_names(images: list[zipfile.ZipInfo]) -> ImageLayout | None:
    """Give back the images labelled by the start of their file names, when nearly every name is a class and a
    number and there are two classes at least, each of a few pictures; else None. Classes spelled with other
    capitals are one, spelled as most of their pictures are."""
    members, found, skipped = [], [], []
    for info in images:
        match = CLASS_AND_NUMBER.fullmatch(file_name(info.filename).rpartition(".")[0])
        if match and match["label"].lower() not in CAMERA_NAMES:
            members.append(info)
            found.append(match["label"])
        else:
            skipped.append({"file": info.filename, "why": "its name does not start with a class"})
    spelling = {}
    for label, _ in Counter(found).most_common():
        spelling.setdefault(label.casefold(), label)
    labels = [spelling[label.casefold()] for label in found]
    counts = Counter(labels)
    if len(skipped) > MOST_UNNAMED * len(images) or len(counts) < 2 or min(counts.values()) < FEWEST_NAMED:
        return None
    return ImageLayout(members, labels, "names",
                       f"the images share one folder, and the start of each file's name is taken as its class "
                       f"('{file_name(members[0].filename)}' is a '{labels[0]}'; {len(counts)} classes)",
                       skipped=skipped)


def _lookup_keys(path: str, base: str) -> list[str]:
    path = path.replace("\\", "/").strip().removeprefix("./").lower()
    return [path, f"{base.lower()}/{path}"] if base else [path]


def _layout_from_label_file(archive: zipfile.ZipFile, images: list[zipfile.ZipInfo],
                            tables: list[zipfile.ZipInfo], name: str) -> ImageLayout:
    table_info = sorted(tables, key=lambda info: (info.filename.count("/"),
                                                  "label" not in info.filename.lower(), info.filename))[0]
    table_name = table_info.filename
    try:
        frame = frame_from_bytes(read_member(archive, table_info), file_name(table_name))
    except DataError as error:
        raise DataError(f"The label file '{table_name}' in '{name}' could not be read: {error}") from None
    by_path = {info.filename.lower(): info for info in images}
    names = Counter(file_name(info.filename).lower() for info in images)
    by_name = {file_name(info.filename).lower(): info for info in images
               if names[file_name(info.filename).lower()] == 1}
    base = folder_of(member_path(table_name))

    def find(value) -> zipfile.ZipInfo | None:
        if pd.isna(value):
            return None
        for key in _lookup_keys(str(value), base):
            if key in by_path:
                return by_path[key]
        return by_name.get(file_name(str(value)).lower())

    best, best_hits = None, 0
    for column in frame.columns:
        hits = sum(find(value) is not None for value in frame[column].head(500))
        if hits > best_hits or (hits == best_hits and hits and column.lower() in FILE_COLUMN_NAMES):
            best, best_hits = column, hits
    if best is None:
        raise DataError(f"None of the values in the label file '{table_name}' match an image's file name in "
                        f"'{name}'. Its first column should hold file names such as "
                        f"'{file_name(images[0].filename)}', and another column the labels.")
    label_column, _ = guess_target(frame, exclude=(best,))
    members, labels, skipped, missing, listed = [], [], [], [], set()
    for file_value, label in zip(frame[best], frame[label_column]):
        info = find(file_value)
        if info is None:
            if not pd.isna(file_value):
                missing.append(str(file_value))
            continue
        if info.filename in listed:
            continue
        listed.add(info.filename)
        if pd.isna(label) or not str(label).strip():
            skipped.append({"file": info.filename, "why": f"no label in '{table_name}'"})
            continue
        members.append(info)
        labels.append(str(label).strip())
    skipped += [{"file": info.filename, "why": f"not listed in '{table_name}'"}
                for info in images if info.filename not in listed]
    return ImageLayout(members, labels, "label file",
                       f"the file '{table_name}' names each image (column '{best}') and its label "
                       f"(column '{label_column}')", label_file=table_name, skipped=skipped, missing_files=missing)
