"""The rooms of the code and the way imports may go between them (docs/ARCHITECTURE.md): each room imports only
rooms below it, whether at a module's top or inside a function, and the dashboard's pages never import torch
(tests/test_dashboard_imports.py starts every page to check that)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Lowest first; the rooms of one level sit side by side and may not import each other. A module's room is its
# package under engine/ (engine.data, engine.training, …) or its top-level module (engine.config); db and dashboard
# are one room each. The HTTP server is the top of serving: it answers with explanations, which read trained models
# through serving's loaders.
LEVELS = [
    ["db"],
    ["engine", "engine.errors", "engine.words"],
    ["engine.files"],
    ["engine.models"],
    ["engine.config", "engine.presets"],
    ["engine.data"],
    ["engine.training"],
    ["engine.serving"],
    ["engine.search"],
    ["engine.jobs"],
    ["engine.explain"],
    ["engine.serving.http"],
    ["engine.calibrate"],
    ["engine.estimates"],
    ["engine.cli"],
    ["engine.__main__"],
    ["dashboard"],
]
LEVEL = {room: level for level, rooms in enumerate(LEVELS) for room in rooms}
OURS = ("engine", "db", "dashboard")


def room_of(module: str) -> str:
    """Give back the room of a dotted module name."""
    if module == "engine.serving.http":
        return module
    parts = module.split(".")
    if parts[0] != "engine" or len(parts) == 1:
        return parts[0]
    return f"engine.{parts[1]}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Give back (line, module) for every import of our own code in the file, at its top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module in OURS:  # `from engine import files` imports engine.files
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def upward_imports(files: list[Path]) -> list[str]:
    """Give back one line for each import that goes to a room at the same level or above, other than its own."""
    wrong = []
    for path in files:
        own = room_of(module_name(path))
        for line, name in imports(path):
            target = room_of(name)
            if target == own or target not in LEVEL:
                continue
            if LEVEL[target] >= LEVEL[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {name} ({target})")
    return wrong


def code_files() -> list[Path]:
    return sorted(path for folder in OURS for path in (ROOT / folder).rglob("*.py")
                  if "migrations" not in path.parts)


def test_every_room_is_placed():
    rooms = {room_of(module_name(path)) for path in code_files()}
    assert rooms <= set(LEVEL), f"rooms without a place in docs/ARCHITECTURE.md: {sorted(rooms - set(LEVEL))}"


@pytest.mark.slow
def test_no_room_imports_one_above_it():
    assert upward_imports(code_files()) == []


@pytest.mark.parametrize("source, target", [("engine/models/registry.py", "engine.training.loop"),
                                            ("db/repo/runs.py", "engine.config"),
                                            ("engine/data/prepare.py", "dashboard.components.state")])
def test_the_check_catches_an_import_against_the_arrows(tmp_path, source, target):
    # A copy of a real module with one import too many, placed where the original lives.
    original = ROOT / source
    bad = original.with_name(f"_architecture_probe_{original.name}")
    bad.write_text(original.read_text() + f"\n\ndef _probe():\n    import {target}  # noqa: F401\n")
    try:
        found = upward_imports([bad])
    finally:
        bad.unlink()
    assert len(found) == 1 and f"imports {target}" in found[0]


def test_the_rooms_are_described_in_the_architecture_document():
    document = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for room in LEVEL:
        assert f"`{room}`" in document, room
