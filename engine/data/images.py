"""Reading images a user brought as a ZIP: the size they are resized to, decoding them, and the whole archive.

Every image is decoded with Pillow (first frame of an animation, transparency laid on white), turned
into grey or colour and resized to one size. A file that cannot be read is skipped and reported.
Which images the archive holds and their labels are found by engine.data.image_layout; the quality report of
the result is engine.data.image_report's.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, UnidentifiedImageError

from engine.data.archive import read_member, safe_members
from engine.data.image_layout import ImageLayout, find_layout
from engine.data.profile import CHOSEN, MIN_ROWS, check_classes
from engine.errors import DataError

GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
MAX_IMAGE_PIXELS = 40_000_000  # larger pictures are reported, not decoded (a decompression bomb guard)
TYPICAL_LIMIT = 64  # a typical size above this many pixels is scaled down to a square of it
MIN_SIDE, MAX_SIDE = 4, 512
PARALLEL_FROM = 4000  # images; below this, starting helper processes costs more than it saves
MAX_HELPERS = 8
SIZE_SAMPLE = 256

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a cut-off file is unreadable, not silently half grey


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
        size, size_reason = check_size(*size), CHOSEN
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


if __name__ == "__main__":  # a helper of decode_files: ZIP, output prefix, height, width
    archive_path, prefix, size_h, size_w = sys.argv[1:5]
    wanted = json.loads(Path(f"{prefix}.json").read_text())
    decoded, decoded_records = _decode_chunk(archive_path, wanted, int(size_h), int(size_w))
    np.save(f"{prefix}.npy", decoded)
    Path(f"{prefix}.records.json").write_text(json.dumps(decoded_records))
