"""A run's files are written atomically and registered with their size and SHA-256 (engine.files)."""

import hashlib
import json

import pytest

from db import repo
from engine.files import atomic_path, register_artifact, write_json
from tests.factories import make_dataset


def test_a_write_that_fails_leaves_the_old_file_and_no_scratch_file(tmp_path):
    path = tmp_path / "runs" / "7" / "evaluation.json"
    write_json(path, {"accuracy": 0.9})
    assert json.loads(path.read_text()) == {"accuracy": 0.9}

    with pytest.raises(RuntimeError), atomic_path(path) as partial:
        partial.write_text('{"accuracy": 0.')  # half written when the writer fails
        raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert [p.name for p in path.parent.iterdir()] == ["evaluation.json"]

    with atomic_path(tmp_path / "model.pt2") as partial:  # writers that insist on their file's ending get it
        assert partial.suffix == ".pt2" and partial.parent == tmp_path
        partial.write_bytes(b"program")
    assert (tmp_path / "model.pt2").read_bytes() == b"program"


def test_an_artifact_is_registered_with_its_size_and_hash(home):
    run = repo.create_run(make_dataset("digits")["id"], "mlp", {"model": {"name": "mlp"}})
    path = home / "model.onnx"
    path.write_bytes(b"\x00weights" * 100)
    register_artifact(run["id"], "onnx", path)
    (artifact,) = repo.list_artifacts(run["id"])
    assert artifact["kind"] == "onnx" and artifact["path"] == str(path) and artifact["bytes"] == 800
    assert artifact["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
