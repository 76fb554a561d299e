"""Opening a ZIP a user sent without trusting it: no paths outside the folder, no links, no ZIP bombs.

Members are only ever read into memory by the names checked here; nothing is extracted to disk.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

from engine.errors import DataError

MAX_FILES = 200_000
MAX_TOTAL_BYTES = 8 << 30  # unpacked size of all members together
MAX_RATIO = 100  # unpacked size / packed size of one member, or of the whole archive
RATIO_FROM_BYTES = 1 << 20  # tiny members compress well for innocent reasons; judge the ratio above this
JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$|\._)", re.I)


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GB" if size >= 1 << 30 else f"{size / (1 << 20):.0f} MB"


def member_path(name: str) -> str:
    """Give back the member's path inside the archive ('a/b.png'), or raise DataError when it points outside."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        raise DataError(f"The ZIP contains a file with an absolute path ('{name}'), which could write outside its "
                        "folder. Trainyard does not open such archives; pack the files again with relative paths.")
    parts = clean.split("/")
    if ".." in parts:
        raise DataError(f"The ZIP contains a path that leaves its folder ('{name}'). Trainyard does not open "
                        "such archives; pack the files again from inside the folder.")
    return "/".join(part for part in parts if part not in ("", "."))


def folder_of(path: str) -> str:
    """Give back the folder part of 'a/b/c.png' ('a/b'), or '' for a file at the top."""
    return path.replace("\\", "/").rpartition("/")[0]


def file_name(path: str) -> str:
    return path.replace("\\", "/").rpartition("/")[2]


def suffix_of(path: str) -> str:
    name = file_name(path)
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_members(archive: zipfile.ZipFile, name: str = "the ZIP", max_files: int | None = None,
                 max_total_bytes: int | None = None, max_ratio: float | None = None) -> list[zipfile.ZipInfo]:
    """Give back the archive's regular files (no folders, no system junk) after checking every entry.

    Raises DataError for an unsafe path, a link, an encrypted file, too many files, too much data once
    unpacked, or a compression ratio that only a ZIP bomb has.
    """
    max_files = MAX_FILES if max_files is None else max_files
    max_total_bytes = MAX_TOTAL_BYTES if max_total_bytes is None else max_total_bytes
    max_ratio = MAX_RATIO if max_ratio is None else max_ratio
    infos = archive.infolist()
    if len(infos) > max_files:
        raise DataError(f"'{name}' holds {len(infos):,} files; Trainyard opens at most {max_files:,} per archive. "
                        "Split it into smaller archives.")
    members, total, packed = [], 0, 0
    for info in infos:
        member_path(info.filename)
        if is_link(info):
            raise DataError(f"'{name}' contains a link ('{info.filename}'). Links can point at files outside the "
                            "archive, so Trainyard does not open it; pack the real files instead.")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise DataError(f"'{name}' is protected by a password. Pack the files again without a password.")
        total += info.file_size
        packed += info.compress_size
        if total > max_total_bytes:
            raise DataError(f"'{name}' unpacks to more than {_gib(max_total_bytes)}, the most Trainyard accepts. "
                            "Split it into smaller archives.")
        if info.file_size > RATIO_FROM_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
            raise DataError(f"'{name}' looks like a ZIP bomb: '{info.filename}' would unpack to "
                            f"{info.file_size / max(info.compress_size, 1):,.0f} times its packed size. "
                            "Trainyard does not open it.")
        if not JUNK.search(info.filename):
            members.append(info)
    if total > RATIO_FROM_BYTES and total > max_ratio * max(packed, 1):
        raise DataError(f"'{name}' looks like a ZIP bomb: it would unpack to {total / max(packed, 1):,.0f} times "
                        "its size. Trainyard does not open it.")
    return members


def open_zip(path: str | Path, name: str | None = None) -> zipfile.ZipFile:
    """Give back the ZipFile at path, or raise DataError when it is not a readable ZIP archive."""
    name = name or Path(path).name
    if Path(path).stat().st_size == 0:
        raise DataError(f"'{name}' is empty. Choose a ZIP archive that contains images.")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise DataError(f"'{name}' is not a readable ZIP archive. Pack the images again with your system's "
                        "'Compress' or 'Send to ZIP' command.") from None


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Give back a member's bytes; zipfile stops at the declared size and checks the CRC."""
    with archive.open(info) as handle:
        return handle.read(info.file_size + 1)[: info.file_size]
