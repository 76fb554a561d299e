"""Images a user brought as a ZIP: one folder per class, or images plus a table of file name → label.

Every image is decoded with Pillow (first frame of an animation, transparency laid on white), turned
into grey or colour and resized to one size. A file that cannot be read is skipped and reported.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, UnidentifiedImageError

from engine.data.archive import file_name, folder_of, member_path, read_member, safe_members, suffix_of
from engine.data.profile import (
    MIN_ROWS,
    action,
    check_classes,
    class_problems,
    counted,
    duplicate_problems,
    guess_target,
    problem,
)
from engine.data.tables import frame_from_bytes
from engine.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LABEL_FILE_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx"}
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
MAX_IMAGE_PIXELS = 40_000_000  # larger pictures are reported, not decoded (a decompression bomb guard)
MAX_LISTED = 1000  # files a quality report names per list (unreadable, unlabelled…); its counts stay exact
LISTS = ("unreadable", "skipped", "other_files", "missing_files")
TYPICAL_LIMIT = 64  # a typical size above this many pixels is scaled down to a square of it
MIN_SIDE, MAX_SIDE = 4, 512
PARALLEL_FROM = 4000  # images; below this, starting helper processes costs more than it saves
MAX_HELPERS = 8
SIZE_SAMPLE = 256
FILE_COLUMN_NAMES = ("file", "filename", "file_name", "image", "image_name", "path", "name", "img")

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a cut-off file is unreadable, not silently half grey


@dataclass
class ImageLayout:
    """Which images an archive holds and the label of each."""

    members: list[zipfile.ZipInfo]
    labels: list[str]
    how: str  # "folders" or "label file"
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


# ---------------------------------------------------------------- sizes


def suggest_size(sizes: list[tuple[int, int]]) -> tuple[tuple[int, int], str]:
    """Give back ((height, width), reason) for the size every image is resized to."""
    if not sizes:
        return (32, 32), "32 × 32 pixels is a common size for small pictures"
    (width, height), count = Counter(sizes).most_common(1)[0]
    if count >= 0.5 * len(sizes):
        typical = f"most images are {width} × {height} pixels"
    else:
        width, height = int(np.median([s[0] for s in sizes])), int(np.median([s[1] for s in sizes]))
        typical = f"the images have different sizes, typically about {width} × {height} pixels"
    if max(width, height) <= TYPICAL_LIMIT and count >= 0.5 * len(sizes):
        return (height, width), f"{typical}, so they keep their size"
    if max(width, height) <= TYPICAL_LIMIT:
        side = max(MIN_SIDE, int(round(max(width, height) / 4)) * 4)
        return (side, side), f"{typical}, so they are resized to a {side} × {side} square"
    return (TYPICAL_LIMIT, TYPICAL_LIMIT), (f"{typical}; {TYPICAL_LIMIT} × {TYPICAL_LIMIT} keeps training fast "
                                            "(choose a larger size for finer detail)")


def check_size(height: int, width: int) -> tuple[int, int]:
    height, width = int(height), int(width)
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise DataError(f"The image size must be between {MIN_SIDE} and {MAX_SIDE} pixels on each side; "
                        f"{width} × {height} was asked for.")
    return height, width


def header_sizes(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> list[tuple[int, int]]:
    """Give back the (width, height) of up to SIZE_SAMPLE evenly spread images, reading headers only."""
    step = max(1, len(members) // SIZE_SAMPLE)
    sizes = []
    for info in members[::step][:SIZE_SAMPLE]:
        try:
            with Image.open(io.BytesIO(read_member(archive, info))) as image:
                sizes.append(image.size)
        except Exception:  # a broken file is reported when the images are decoded
            continue
    return sizes


# ---------------------------------------------------------------- decoding


def open_image(data: bytes | Image.Image) -> Image.Image:
    """Give back a Pillow image from bytes or an image; only its first frame is used."""
    image = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data))
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    return image


def is_grey(image: Image.Image) -> bool:
    if image.mode in GREY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = np.asarray(image.convert("RGB"))
        return bool((palette[..., 0] == palette[..., 1]).all() and (palette[..., 1] == palette[..., 2]).all())
    return False


def to_pixels(image: Image.Image, height: int, width: int, channels: int = 3) -> np.ndarray:
    """Give back image as uint8 (height, width, channels), resized, transparency laid on white."""
    if image.format == "JPEG" and max(image.size) > 2 * max(height, width):
        image.draft("RGB" if channels == 3 else "L", (width, height))  # decode at a reduced scale: faster
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = values.max()
        image = Image.fromarray((values * (255.0 / top if top > 255 else 1.0)).clip(0, 255).astype(np.uint8))
        mode = "L"
    if "A" in mode or mode == "P" and "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    wanted = "RGB" if channels == 3 else "L"
    if image.mode != wanted:
        image = image.convert(wanted)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width, channels)


def decode_members(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], height: int,
                   width: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Give back (uint8 pixels (N, height, width, 3) of the readable images, one record per member).

    A record holds the member's size, mode, format, frames, a digest of its bytes, whether it could be
    read and, if not, why; pixel_row is its row in pixels or -1.
    """
    pixels = np.empty((len(members), height, width, 3), dtype=np.uint8)
    records, row = [], 0
    for info in members:
        data = read_member(archive, info)
        record = {"file": info.filename, "width": 0, "height": 0, "mode": "", "format": "", "frames": 1,
                  "grey": True, "digest": hashlib.blake2b(data, digest_size=8).hexdigest(), "readable": False,
                  "why": "", "pixel_row": -1}
        try:
            with open_image(data) as image:
                record.update(width=image.width, height=image.height, mode=image.mode,
                              format=image.format or "", frames=getattr(image, "n_frames", 1))
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise DataError(f"it is too large ({image.width:,} × {image.height:,} pixels; at most "
                                    f"{MAX_IMAGE_PIXELS:,} pixels are read)")
                grey = is_grey(image)
                if grey:
                    pixels[row] = to_pixels(image, height, width, 1)
                else:
                    pixels[row] = to_pixels(image, height, width, 3)
                record.update(grey=grey, readable=True, pixel_row=row)
                row += 1
        except DataError as error:
            record["why"] = str(error)
        except Image.DecompressionBombError:  # Pillow refuses to open far larger ones at all
            record["why"] = (f"it is too large (over {Image.MAX_IMAGE_PIXELS * 2:,} pixels; at most "
                             f"{MAX_IMAGE_PIXELS:,} pixels are read)")
        except UnidentifiedImageError:
            record["why"] = "it is not an image Pillow can read"
        except (OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile) as error:
            record["why"] = f"the file is damaged ({str(error) or type(error).__name__})"
        records.append(record)
    return pixels[:row], records


def _decode_chunk(path: str, files: list[str], height: int, width: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    with zipfile.ZipFile(path) as archive:
        return decode_members(archive, [archive.getinfo(name) for name in files], height, width)


def decode_files(path: Path | None, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], height: int,
                 width: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Give back what decode_members gives; with many images, helper processes decode parts of them.

    Helpers are fresh interpreters started with `python -m engine.data.images` (never forks, which are
    unsafe in the dashboard's threaded process); if one fails, this process decodes its part itself.
    """
    helpers = min(os.cpu_count() or 1, MAX_HELPERS) - 1
    if path is None or helpers < 1 or len(members) < PARALLEL_FROM:
        return decode_members(archive, members, height, width)
    names = [info.filename for info in members]
    step = -(-len(names) // (helpers + 1))
    chunks = [names[start:start + step] for start in range(0, len(names), step)]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    pixels = np.empty((len(names), height, width, 3), dtype=np.uint8)
    records, row = [], 0
    with tempfile.TemporaryDirectory(prefix="trainyard-decode-") as folder:
        started = []
        for i, chunk in enumerate(chunks[1:], start=1):
            (Path(folder) / f"{i}.json").write_text(json.dumps(chunk))
            started.append(subprocess.Popen(
                [sys.executable, "-m", "engine.data.images", str(path), str(Path(folder) / str(i)), str(height),
                 str(width)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        parts = [decode_members(archive, members[:step], height, width)]
        for i, helper in enumerate(started, start=1):
            try:
                ok = helper.wait() == 0
            except BaseException:
                helper.kill()
                raise
            if ok:
                parts.append((np.load(Path(folder) / f"{i}.npy"),
                              json.loads((Path(folder) / f"{i}.records.json").read_text())))
            else:
                parts.append(decode_members(archive, members[i * step:(i + 1) * step], height, width))
    for part, part_records in parts:
        pixels[row:row + len(part)] = part
        for record in part_records:
            if record["pixel_row"] >= 0:
                record["pixel_row"] += row
        records += part_records
        row += len(part)
    return pixels[:row], records


def channels_of(records: list[dict[str, Any]] | pd.DataFrame) -> int:
    """Give back 1 when every readable image is grey, else 3."""
    frame = pd.DataFrame(records) if isinstance(records, list) else records
    readable = frame[frame["readable"]]
    return 1 if len(readable) and bool(readable["grey"].all()) else 3


def decode_archive(archive: zipfile.ZipFile, files: list[str], height: int, width: int,
                   channels: int) -> np.ndarray:
    """Give back uint8 pixels (N, height, width, channels) of the named members, which must be readable."""
    infos = [archive.getinfo(name) for name in files]
    pixels, records = decode_members(archive, infos, height, width)
    if len(pixels) != len(files):
        broken = next(record["file"] for record in records if not record["readable"])
        raise DataError(f"The image '{broken}' can no longer be read from the stored archive.")
    return np.ascontiguousarray(pixels[..., :channels])


# ---------------------------------------------------------------- reading a whole archive


@dataclass
class ImageSet:
    """Everything read from an image archive: one index row per image, and the pixels of the readable ones."""

    index: pd.DataFrame  # file, label, width, height, mode, format, frames, grey, digest, readable, why, pixel_row
    pixels: np.ndarray  # uint8 (N_readable, height, width, channels)
    layout: ImageLayout
    size_reason: str


def inspect_image_zip(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    """Give back what the archive holds and the suggested image size, reading headers only."""
    members = safe_members(archive, name)
    layout = find_layout(archive, members, name)
    (height, width), reason = suggest_size(header_sizes(archive, layout.members))
    counts = Counter(layout.labels)
    return {"kind": "image", "kind_reason": "it is a ZIP archive of images", "how": layout.how,
            "label_reason": layout.reason, "images": len(layout.members), "classes": len(counts),
            "class_counts": dict(counts.most_common()), "skipped": len(layout.skipped),
            "height": height, "width": width, "size_reason": reason}


def read_image_zip(archive: zipfile.ZipFile, name: str, size: tuple[int, int] | None = None,
                   path: Path | None = None) -> ImageSet:
    """Give back the images of the archive (stored at path), decoded and resized, or raise DataError."""
    members = safe_members(archive, name)
    layout = find_layout(archive, members, name)
    if size is None:
        size, size_reason = suggest_size(header_sizes(archive, layout.members))
    else:
        size, size_reason = check_size(*size), "you chose it"
    pixels, records = decode_files(path, archive, layout.members, *size)
    index = pd.DataFrame(records)
    index.insert(1, "label", layout.labels)
    readable = index[index["readable"]]
    if readable.empty:
        why = index["why"].iloc[0]
        raise DataError(f"None of the {len(index):,} images in '{name}' could be read ('{index['file'].iloc[0]}': "
                        f"{why}). Check that the files are real pictures, then pack them again.")
    check_classes(readable["label"].value_counts(), f"'{name}'")
    if len(readable) < MIN_ROWS:
        raise DataError(f"Only {len(readable)} images in '{name}' can be used; at least {MIN_ROWS} are needed to "
                        "train and test. Add more images of each class.")
    channels = channels_of(index)
    pixels = np.ascontiguousarray(pixels[..., :channels])
    return ImageSet(index=index, pixels=pixels, layout=layout, size_reason=size_reason)


# ---------------------------------------------------------------- quality report


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


if __name__ == "__main__":  # a helper of decode_files: ZIP, output prefix, height, width
    archive_path, prefix, size_h, size_w = sys.argv[1:5]
    wanted = json.loads(Path(f"{prefix}.json").read_text())
    decoded, decoded_records = _decode_chunk(archive_path, wanted, int(size_h), int(size_w))
    np.save(f"{prefix}.npy", decoded)
    Path(f"{prefix}.records.json").write_text(json.dumps(decoded_records))
