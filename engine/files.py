"""Writing a run's files: atomically, so that a crash mid-write never leaves half a file under its name, and
registering a finished file as one of its run's artifacts (its size and SHA-256 in the database)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Give a scratch path beside path to write to; when the block ends without an error it takes path's place in
    one step, and when it fails it is removed and path is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the ending stays last: some writers (torch.export, numpy) insist on it
    partial = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write text to path atomically."""
    with atomic_path(path) as partial:
        partial.write_text(text)


def write_json(path: Path, document: Any, indent: int | None = 1) -> None:
    """Write document to path as JSON, atomically."""
    write_text(path, json.dumps(document, indent=indent))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register_artifact(run_id: int, kind: str, path: Path) -> None:
    """Record the finished file at path as the run's artifact of this kind, with its size and SHA-256."""
    from db import repo

    path = Path(path)
    repo.add_artifact(run_id, kind, str(path), path.stat().st_size, file_sha256(path))


def model_path(run_id: int) -> Path:
    """Give back the file of the run's trained model: the one registered as its artifact, else where it is written."""
    from db import repo
    from db.session import run_folder

    for artifact in repo.list_artifacts(run_id):
        if artifact["kind"] == "model" and Path(artifact["path"]).exists():
            return Path(artifact["path"])
    return run_folder(run_id) / "model.pt"
