"""Exporting a trained run: an ONNX file and a PyTorch program (torch.export's .pt2), each checked against the
trained model, and a ZIP bundle of both with the fitted preprocessing, the label names and a README whose examples
run as written. TorchScript, which PyTorch deprecates, is made only when asked for by name.

This module makes a run's exports on request (export_run) and keeps them; the formats are written in
engine.serving.formats, the bundle in engine.serving.bundle and engine.serving.readme.

Exports are made once per run, in runs/<id>/export/, and reused while the model file is unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from engine.errors import UserError
from engine.files import register_artifact, write_json
from engine.serving.bundle import write_bundle
from engine.serving.compress import compress_run, read_compression
from engine.serving.formats import export_onnx, export_program, export_torchscript
from engine.serving.predict import TrainedModel, load_trained
from engine.serving.runtime import (CHECKS_FILE, INT8_FILE, ONNX_FILE, PREPROCESSING_FILE, PROGRAM_FILE,
                                    TORCHSCRIPT_FILE, bundle_name, export_folder)

FORMATS = ("onnx", "pt2", "torchscript", "bundle")
TORCHSCRIPT_NOTE = ("PyTorch deprecates TorchScript; the .pt2 program (--format pt2, also in the bundle) is its "
                    "successor and loads with torch.export.load.")


# ---------------------------------------------------------------- a run's exports


def _read_checks(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / CHECKS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def export_run(run_id: int, fmt: str, out: Path | None = None, quantize: str | None = None,
               prune: float | None = None) -> dict[str, Any]:
    """Make (or reuse) the run's export in fmt, copy it to out when given, and describe it.

    With quantize="int8", the export is the int8 version of the ONNX model (after pruning the share `prune` of the
    weights, when given), or its own bundle; "check" is then its measurement (engine.serving.compress).
    Gives back {"run", "format", "path", "bytes", "check"} (and "quantize"); raises UserError in plain words.
    """
    from db import access
    from engine.files import model_path

    actor = access.require("export")
    if fmt not in FORMATS:
        raise UserError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
    if quantize not in (None, "int8"):
        raise UserError(f"Unknown quantisation '{quantize}'. The one there is: int8.")
    if quantize and fmt in ("pt2", "torchscript"):
        raise UserError("The int8 version is made from the ONNX model: use --format onnx or --format bundle.")
    if prune is not None and not quantize:
        raise UserError("--prune goes with --quantize int8: pruning is measured on the int8 version.")
    trained = load_trained(run_id)
    folder = export_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    checks = _read_checks(folder)
    files = {"onnx": folder / ONNX_FILE, "pt2": folder / PROGRAM_FILE, "torchscript": folder / TORCHSCRIPT_FILE,
             "bundle": folder / bundle_name(run_id)}
    model_time = model_path(run_id).stat().st_mtime

    def fresh(name: str) -> bool:
        return name in checks and files[name].exists() and files[name].stat().st_mtime >= model_time

    def make(name: str, build: Callable[[], dict[str, Any]]) -> None:
        checks[name] = build()
        write_json(folder / CHECKS_FILE, checks)
        register_artifact(run_id, name, files[name])

    write_json(folder / PREPROCESSING_FILE, trained.preprocessing)  # the playground reads it next to the ONNX file
    needed = {"bundle": ["onnx", "pt2", "bundle"]}.get(fmt, [fmt])

    def bundle() -> dict[str, Any]:
        write_bundle(trained, folder, checks, files["bundle"])
        return {"onnx": checks["onnx"], "pt2": checks["pt2"]}

    builders = {"onnx": lambda: export_onnx(trained, files["onnx"]),
                "pt2": lambda: export_program(trained, files["pt2"]),
                "torchscript": lambda: export_torchscript(trained, files["torchscript"]), "bundle": bundle}
    if quantize:
        needed = ["onnx"]  # the float model, which the int8 one is made from and measured against
    for name in needed:
        if not fresh(name):
            make(name, builders[name])
    target, check = files[fmt], checks.get(fmt)
    if quantize:
        target, check = _int8_export(trained, fmt, checks, prune)
    if out is not None:
        out = Path(out)
        if out.is_dir():
            out = out / (bundle_name(run_id, bool(quantize)) if fmt == "bundle" else target.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, out)
        target = out
    access.audit("export", f"run {run_id}", fmt + (f", {quantize}" if quantize else ""), actor)
    return {"run": run_id, "format": fmt, "path": str(target), "bytes": target.stat().st_size, "check": check} | (
        {"quantize": quantize} if quantize else {}) | ({"note": TORCHSCRIPT_NOTE} if fmt == "torchscript" else {})


def _int8_export(trained: TrainedModel, fmt: str, checks: dict[str, Any],
                 prune: float | None) -> tuple[Path, dict[str, Any]]:
    """Make (or reuse) the run's int8 model, and its bundle for fmt "bundle"; give back the file and its
    measurement."""
    run_id, folder = trained.run_id, export_folder(trained.run_id)
    compression = read_compression(run_id, prune) or compress_run(trained, export_onnx, prune)
    target = folder / INT8_FILE
    if fmt == "bundle":
        target = folder / bundle_name(run_id, quantized=True)
        if not target.exists() or target.stat().st_mtime < (folder / INT8_FILE).stat().st_mtime:
            write_bundle(trained, folder, checks, target, compression)
            register_artifact(run_id, "bundle_int8", target)
    return target, compression
