"""The ZIP bundle of a run's exports: the models, the fitted preprocessing, what the outputs mean (labels.json), a few
ready example inputs with their outputs, and the README (engine.serving.readme).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.files import atomic_path
from engine.serving.formats import example_inputs
from engine.serving.inputs import inputs_for
from engine.serving.predict import TorchModel, TrainedModel
from engine.serving.readme import readme
from engine.serving.runtime import INT8_FILE, ONNX_FILE, PROGRAM_FILE, OnnxModel


def labels_document(prep: dict[str, Any]) -> dict[str, Any]:
    """Give back what the model's outputs mean: label names, or how to turn a number back into the target's units."""
    document: dict[str, Any] = {"task": prep["task"], "target": prep.get("target")}
    if prep["task"] == "classification":
        document["labels"] = list(prep["classes"])
    else:
        document["mean"] = prep.get("target_mean", 0.0)
        document["std"] = prep.get("target_std", 1.0)
    if prep["kind"] == "ratings":
        document["users"] = [str(u) for u in prep.get("users", [])]
        document["items"] = [str(i) for i in prep.get("items", [])]
        document["rating_min"], document["rating_max"] = prep.get("rating_min"), prep.get("rating_max")
    return document


def example_document(trained: TrainedModel, model: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Give back a few ready model inputs with PyTorch's outputs for them (or model's, when given), and for tables
    the raw rows too."""
    prep = trained.preprocessing
    document: dict[str, Any] = {}
    if prep["kind"] == "tabular":
        raw = inputs_for(prep).example(prep)
        x = inputs_for(prep).encode(prep, raw)
        document["rows"] = raw.to_dict(orient="records")
    else:
        x = example_inputs(trained.spec, 2)
    document.update({"inputs": x.tolist(), "dtype": str(x.dtype), "shape": ["batch", *x.shape[1:]],
                     "outputs": (model or TorchModel(trained.model))(x).tolist()})
    return document


def write_bundle(trained: TrainedModel, folder: Path, checks: dict[str, Any], path: Path,
                 compression: dict[str, Any] | None = None) -> None:
    """Write the ZIP bundle of the run's exports to path: the float models, or with compression (the int8 model's
    measurement) the int8 model alone."""
    root = f"trainyard-run-{trained.run_id}" + ("-int8" if compression else "")
    example = example_document(trained, OnnxModel(folder / INT8_FILE, threads=1) if compression else None)
    documents = {"preprocessing.json": trained.preprocessing, "labels.json": labels_document(trained.preprocessing),
                 "example_input.json": example}
    with atomic_path(path) as partial:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{root}/README.md", readme(trained, checks, compression))
            for name, document in documents.items():
                archive.writestr(f"{root}/{name}", json.dumps(document, indent=1))
            for name in ([INT8_FILE] if compression else [ONNX_FILE, PROGRAM_FILE]):
                archive.write(folder / name, f"{root}/{name}")
            if trained.preprocessing.get("word_pieces"):  # the pretrained text model's own tokenizer
                from engine.data.text import PIECE_TOKENIZER
                from engine.models.registry import package_file

                archive.write(package_file(trained.preprocessing["word_pieces"], PIECE_TOKENIZER),
                              f"{root}/tokenizer.json")
