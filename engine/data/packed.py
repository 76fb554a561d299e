"""A table that came packed, as public data sets often do: a ZIP holding a table and no pictures (a download from a
data site), or one table compressed with gzip, bzip2 or xz (telco.csv.gz). It is unpacked to a file of its own and
read like any table; a ZIP of pictures is left to engine.data.images.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import tempfile
import zipfile
import zlib
from pathlib import Path

from engine.data.archive import MAX_RATIO, RATIO_FROM_BYTES, file_name, open_zip, safe_members, suffix_of
from engine.data.image_layout import is_image_name
from engine.data.limits import max_file_bytes
from engine.data.tables import TABLE_FILES, TABLE_SUFFIXES
from engine.errors import DataError
from engine.words import some_of

COMPRESSED = {".gz": (gzip.open, "gzip"), ".bz2": (bz2.open, "bzip2"), ".xz": (lzma.open, "xz")}
PACKED_SUFFIXES = {".zip", *COMPRESSED}
CHUNK = 1 << 20
# A ZIP's tables, best first: those that hold only tables, then those that may hold notes or a description of the
# data (notes.txt, datapackage.json), passed over when so named.
PLAIN_TABLES = TABLE_SUFFIXES - {".txt", ".json", ".jsonl", ".ndjson"}
NOTES = re.compile(r"read_?me|licen[cs]e|notes|citation|change_?log|description|about|datapackage|metadata|schema",
                   re.I)
# What a damaged or unusual file raises as it is unpacked: a bad checksum, broken compressed data, or a way of
# packing the zipfile module cannot unpack (Deflate64, from Windows' own ZIPs of large files).
UNREADABLE = (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile, NotImplementedError)


def unpack_table(path: Path, name: str, folder: Path, max_bytes: int | None = None) -> tuple[Path, str] | None:
    """Give back (the unpacked file in folder, the table's own name) when the file at path, sent as name, is a packed
    table; None when it is not packed, or is a ZIP of pictures. Raises DataError when it holds no table to read,
    several with none to prefer, more than max_bytes once unpacked, or cannot be unpacked."""
    suffix = suffix_of(name)
    limit = max_file_bytes() if max_bytes is None else max_bytes
    if suffix == ".zip":
        with open_zip(path, name) as archive:
            member = _table_in_zip(archive, name)
            if member is None:
                return None
            inner = file_name(member.filename)
            _check_size(member.file_size, name, inner, limit)
            try:
                with archive.open(member) as source:
                    return _copy(source, folder, inner, name, limit, path.stat().st_size), inner
            except UNREADABLE:
                raise DataError(f"'{name}' is damaged or packed in a way Trainyard cannot unpack: '{inner}' cannot be "
                                "read from it. Download or pack it again, or unpack it yourself and add the table "
                                "inside.") from None
    if suffix not in COMPRESSED:
        return None
    opener, format_name = COMPRESSED[suffix]
    inner = file_name(name)[: -len(suffix)]
    if suffix_of(inner) not in TABLE_SUFFIXES:
        raise DataError(f"'{name}' unpacks to '{inner}', which is not a table Trainyard reads ({TABLE_FILES}). "
                        "Unpack it yourself and add the table inside.")
    try:
        with opener(path, "rb") as source:
            return _copy(source, folder, inner, name, limit, path.stat().st_size), inner
    except UNREADABLE:
        raise DataError(f"'{name}' is not a readable {format_name} file. Download or pack it again, or unpack it "
                        "yourself and add the table inside.") from None


def packed_title(name: str, inner: str) -> str:
    """The name a packed table's data set takes: the ZIP's the user chose (a table in it is often train.csv), or the
    table's a compressed file holds (telco for telco.csv.gz)."""
    return Path(name if suffix_of(name) == ".zip" else inner).stem


def _table_in_zip(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    """Give back the ZIP's table to learn from: its only one, or the one named for training (train.csv beside
    test.csv); None when the ZIP holds pictures. Raises DataError when it holds neither pictures nor a table."""
    members = safe_members(archive, name)
    if any(is_image_name(info.filename) for info in members):
        return None
    tables = [info for info in members if suffix_of(info.filename) in PLAIN_TABLES] or [
        info for info in members if suffix_of(info.filename) in TABLE_SUFFIXES and not NOTES.search(info.filename)]
    if not tables:
        raise DataError(f"'{name}' holds neither pictures nor a table Trainyard reads; it holds "
                        f"{_some_names(members) or 'nothing'}. Add a ZIP of pictures, one folder per class, or a table "
                        f"({TABLE_FILES}): a table in another format can be opened in a spreadsheet and saved as CSV.")
    if len(tables) > 1:
        training = [info for info in tables if "train" in file_name(info.filename).lower()]
        if len(training) != 1:
            raise DataError(f"'{name}' holds {len(tables)} tables and no pictures ({_some_names(tables)}). Unpack "
                            "it and add the table to learn from.")
        tables = training
    return tables[0]


def _some_names(members: list[zipfile.ZipInfo], shown: int = 5) -> str:
    """'a.csv', 'b.csv' and 3 more: the first files' names as a sentence lists them."""
    return some_of([f"'{file_name(info.filename)}'" for info in members], shown)


def _check_size(size: int, name: str, inner: str, limit: int) -> None:
    if size > limit:
        raise DataError(f"'{name}' unpacks to '{inner}' of more than {limit / (1 << 20):,.0f} MB, the limit for a "
                        "file. Use a smaller table (for example fewer rows), or add it from the command line: "
                        "python -m engine datasets add PATH.")


def _copy(source, folder: Path, inner: str, name: str, limit: int, packed_size: int) -> Path:
    """Write source into a new file in folder, stopping past limit bytes or past the unpacked size only a bomb
    reaches (a compressed file's size is known only once unpacked); give back its path."""
    written = 0
    with tempfile.NamedTemporaryFile(delete=False, dir=folder, suffix=suffix_of(inner)) as target:
        try:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                _check_size(written, name, inner, limit)
                if written > RATIO_FROM_BYTES and written > MAX_RATIO * packed_size:
                    raise DataError(f"'{name}' looks like a ZIP bomb: it would unpack to more than {MAX_RATIO} times "
                                    "its size. Trainyard does not open it.")
                target.write(chunk)
        except BaseException:
            target.close()
            Path(target.name).unlink(missing_ok=True)
            raise
    return Path(target.name)
