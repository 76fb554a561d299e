"""Predictions from a model function over numpy arrays: the exported ONNX file in ONNX Runtime, or PyTorch.

This module does not import torch, so the dashboard can answer in its own process: ONNX Runtime loads in a
fraction of a second, answers a row in well under a millisecond, and runs the very file a user downloads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from db.session import run_folder
from engine.errors import DataError, UserError
from engine.serving.inputs import inputs_for

MAX_INPUTS = 1000  # per request: bounds the memory one call can take
MAX_PAIRS = 4_000_000  # ratings: user × item pairs scored for one request (64 MB of indices)
BATCH = 512

ModelFunction = Callable[[np.ndarray], np.ndarray]


def export_folder(run_id: int) -> Path:
    return run_folder(run_id) / "export"


ONNX_FILE, PROGRAM_FILE, TORCHSCRIPT_FILE, PREPROCESSING_FILE, CHECKS_FILE = (
    "model.onnx", "model.pt2", "model.torchscript.pt", "preprocessing.json", "checks.json")
INT8_FILE, COMPRESSION_FILE = "model.int8.onnx", "compression.json"  # the int8 model and its measurement


def bundle_name(run_id: int, quantized: bool = False) -> str:
    return f"trainyard-run-{run_id}-int8.zip" if quantized else f"trainyard-run-{run_id}.zip"


class Predictor:
    """Turns raw inputs into answers: encode with the fitted preprocessing, run the model, read the outputs."""

    def __init__(self, preprocessing: dict[str, Any], model: ModelFunction, runtime: str):
        self.preprocessing = preprocessing
        self.inputs = inputs_for(preprocessing)
        self.model = model
        self.runtime = runtime  # "onnx", "onnx int8" or "torch", said in the service's description

    def predict(self, raw: Any, names: list[str] | None = None, **options: Any) -> list[dict[str, Any]]:
        """Give back one answer per input, each with the input's name when names are given. Users of a ratings
        model are scored a group at a time, so every item of every user never sits in memory at once."""
        limit = self.limit()
        if self.inputs.kind == "ratings" and limit < self.inputs.count(raw) <= MAX_INPUTS:
            return [answer for start in range(0, len(raw), limit) for answer in self.predict(
                raw[start:start + limit], names[start:start + limit] if names is not None else None, **options)]
        x = self.encode(raw)
        outputs = np.concatenate([self.model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])
        return self.respond(outputs, raw, x, names, **options)

    def limit(self) -> int:
        """Give back how many inputs one request may hold: for ratings, fewer users the more items each is
        scored against."""
        if self.inputs.kind == "ratings":
            return max(1, min(MAX_INPUTS, MAX_PAIRS // max(1, len(self.preprocessing["items"]))))
        return MAX_INPUTS

    def encode(self, raw: Any) -> np.ndarray:
        """Give back the model's input for raw inputs, or raise DataError saying what is wrong with them."""
        count, limit = self.inputs.count(raw), self.limit()
        if count == 0:
            raise DataError(f"There is nothing to predict: give at least one {self.inputs.noun}.")
        if count > limit:
            each = (f" with {len(self.preprocessing['items']):,} items to score for each"
                    if limit < MAX_INPUTS else "")
            raise DataError(f"{count:,} {self.inputs.noun}s were given{each}; at most {limit:,} fit in one request. "
                            "Split them into smaller batches.")
        try:
            return self.inputs.encode(self.preprocessing, raw)
        except UserError:
            raise
        except Exception as error:  # a value the preprocessing cannot read: the input's fault, said plainly
            raise DataError(f"The {self.inputs.noun}s could not be read ({error}).") from None

    def respond(self, outputs: np.ndarray, raw: Any, x: np.ndarray, names: list[str] | None = None,
                **options: Any) -> list[dict[str, Any]]:
        """Give back the answers from the model's outputs for x, the encoded raw inputs."""
        answers = self.inputs.answer(self.preprocessing, outputs, raw, x, **options)
        if names is not None:
            answers = [{"input": name} | answer for name, answer in zip(names, answers)]
        return answers


class OnnxModel:
    """The exported ONNX file in ONNX Runtime, on the CPU: a function from a numpy batch to its outputs."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]


def onnx_ready(run_id: int, quantized: bool = False) -> bool:
    """Whether the run has an ONNX export (its int8 version when quantized) made from its current model file."""
    folder, model = export_folder(run_id), run_folder(run_id) / "model.pt"
    onnx = folder / (INT8_FILE if quantized else ONNX_FILE)
    return (onnx.exists() and (folder / PREPROCESSING_FILE).exists()
            and (not model.exists() or onnx.stat().st_mtime >= model.stat().st_mtime))


def read_preprocessing(run_id: int) -> dict[str, Any]:
    return json.loads((export_folder(run_id) / PREPROCESSING_FILE).read_text())


def onnx_predictor(run_id: int, threads: int | None = None, quantized: bool = False) -> Predictor:
    """Give back a predictor running the run's exported ONNX file, or its int8 version when quantized;
    `python -m engine export` makes them."""
    if not onnx_ready(run_id, quantized):
        raise UserError(f"Run {run_id} has no {'int8 version' if quantized else 'ONNX export'} yet. Make it with "
                        f"`python -m engine export {run_id} --format onnx{' --quantize int8' if quantized else ''}`.")
    path = export_folder(run_id) / (INT8_FILE if quantized else ONNX_FILE)
    return Predictor(read_preprocessing(run_id), OnnxModel(path, threads), "onnx int8" if quantized else "onnx")
