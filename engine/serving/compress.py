"""An int8 version of a trained run's model, measured against the original on this machine's CPU.

ONNX Runtime quantises the run's ONNX export: dynamically (weights stored as int8, activations quantised as the
model runs) for dense, recurrent, attention and embedding layers, or statically with calibration rows from the
training split when the model has convolutions (ONNX Runtime's int8 convolutions need the activations' ranges
ahead of time). Magnitude pruning (the smallest weights of the dense and convolution layers set to zero) may come
first. The int8 model is then measured, never assumed: file size, one-row latency and batch throughput in ONNX
Runtime, and the test metric, before and after, in the same process. The int8 file and its measurement are kept
in runs/<id>/export/ beside the float export; nothing is written when quantisation fails.

This module makes and keeps a run's int8 model (compress_run) and reads its measurement back; quantising lives in
engine.serving.quantize, measuring and its words in engine.serving.measure.

torch is imported only where a model is pruned or exported, so the dashboard can read the measurement.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.errors import UserError
from engine.files import register_artifact, write_json
from db.session import run_folder
from engine.serving.measure import _outputs, batch_rows, metric_drop, test_metric, timings, verdict, warning
from engine.serving.quantize import INT8_OPS, _layers, _weighted_layers, quantize_file
from engine.serving.runtime import COMPRESSION_FILE, INT8_FILE, ONNX_FILE, OnnxModel, export_folder

SCHEME = "int8"
CALIBRATION_ROWS = 256  # training rows whose activations set the ranges of a static quantisation


# ---------------------------------------------------------------- a run's int8 model


def read_compression(run_id: int, prune: float | None = None, any_pruning: bool = False) -> dict[str, Any] | None:
    """Give back the measurement of the run's int8 model when it is current (made from the current model file,
    after pruning the share prune of its weights, or any share with any_pruning), else None."""
    folder = export_folder(run_id)
    int8, model = folder / INT8_FILE, run_folder(run_id) / "model.pt"
    try:
        document = json.loads((folder / COMPRESSION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not int8.exists() or (model.exists() and int8.stat().st_mtime < model.stat().st_mtime):
        return None
    if not any_pruning and (document.get("prune") or 0.0) != (prune or 0.0):
        return None
    return document


def _pruned(trained, share: float):
    """Give back a copy of trained whose dense and convolution weights have the smallest `share` of them (by size,
    over all those layers together) set to zero for good; and the share of those weights now zero."""
    import copy
    import dataclasses

    import torch
    from torch import nn
    from torch.nn.utils import prune

    model = copy.deepcopy(trained.model)
    layers = [(m, "weight") for m in model.modules()
              if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) or getattr(m, "stacked", False)]
    if not layers:
        raise UserError("This model has no dense or convolution layers, so there is nothing to prune.")
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=share)
    for module, name in layers:
        prune.remove(module, name)
    with torch.no_grad():
        zeros = sum(int((m.weight == 0).sum()) for m, _ in layers)
        total = sum(m.weight.numel() for m, _ in layers)
    return dataclasses.replace(trained, model=model.eval()), zeros / total


def compress_run(trained, write_onnx: Callable[[Any, Path], Any], prune: float | None = None) -> dict[str, Any]:
    """Make the int8 model of a trained run whose float ONNX export is in its export folder (after pruning `prune`
    of its weights when given, the pruned copy written by write_onnx(trained, path)), measure it against that float
    export, keep it beside it and give back the measurement.

    engine.serving.export calls this with its ONNX writer. Raises UserError in plain words; on any failure nothing
    is written.
    """
    from db import repo
    from engine.data.prepare import prepare_run_data

    if prune is not None and not 0 < prune < 1:
        raise UserError(f"--prune is the share of weights set to zero, between 0 and 1 (such as 0.5); {prune:g} "
                        "is not.")
    run_id = trained.run_id
    folder = export_folder(run_id)
    started = time.perf_counter()
    try:
        _, data = prepare_run_data(repo.get_run(run_id))
    except UserError:
        raise
    except Exception as error:
        raise UserError(f"The run's data set could not be read again to measure the int8 model ({error}).") from None
    x_train, y_train = data.arrays["train"]
    x_test, y_test = data.arrays["test"]
    if len(x_test) == 0:
        raise UserError("The run has no test rows, so the int8 model could not be measured.")
    rng = np.random.default_rng(0)
    calibration = x_train[np.sort(rng.permutation(len(x_train))[:CALIBRATION_ROWS])]
    prep = trained.preprocessing
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        source, target = folder / ONNX_FILE, Path(scratch) / INT8_FILE
        pruned_share = 0.0
        if prune:
            pruned, pruned_share = _pruned(trained, prune)
            source = Path(scratch) / "model.pruned.onnx"
            write_onnx(pruned, source)
        method = quantize_file(source, target, calibration)
        try:
            models = {"before": OnnxModel(folder / ONNX_FILE, threads=1), "after": OnnxModel(target, threads=1)}
            rows = batch_rows(models["before"], x_test)
            outputs = {name: _outputs(model, x_test, rows) for name, model in models.items()}
        except Exception as error:
            raise UserError(f"ONNX Runtime made an int8 model it cannot run ({type(error).__name__}); its layers "
                            f"with weights are {', '.join(_weighted_layers(source))}.") from None
        if not np.isfinite(outputs["after"]).all():
            raise UserError("The int8 model gives answers that are not numbers on the test rows, so it was not kept.")
        measured = timings(models, x_test, rows)
        document: dict[str, Any] = {"run": run_id, "scheme": SCHEME, "method": method, "prune": prune or None,
                                    "pruned_share": pruned_share,
                                    "calibration_rows": len(calibration) if method == "static" else 0,
                                    "test_rows": len(x_test), "threads": 1,
                                    "int8_layers": dict(sorted(Counter(
                                        op for op in _layers(target).elements() if op in INT8_OPS).items()))}
        for name in ("before", "after"):
            metric, value = test_metric(prep, x_test, y_test, outputs[name], y_train)
            path = folder / ONNX_FILE if name == "before" else target
            document[name] = {"bytes": path.stat().st_size, "metric": value, **measured[name]}
        document["metric"] = metric
        before, after = document["before"], document["after"]
        document["size_ratio"] = after["bytes"] / before["bytes"]
        document["latency_speedup"] = before["latency_ms"] / after["latency_ms"]
        document["speedup"] = after["rows_per_second"] / before["rows_per_second"]
        document["metric_drop"] = metric_drop(metric, before["metric"], after["metric"])
        difference = np.abs(outputs["after"] - outputs["before"])
        document["max_abs_difference"] = float(difference.max())
        if prep["task"] == "classification":
            document["same_answer_share"] = float((outputs["after"].argmax(1) == outputs["before"].argmax(1)).mean())
        document["verdict"] = verdict(document)
        document["warning"] = warning(document)
        document["flagged"] = document["warning"] is not None
        document["seconds"] = time.perf_counter() - started
        os.replace(target, folder / INT8_FILE)
    write_json(folder / COMPRESSION_FILE, document)
    register_artifact(run_id, "onnx_int8", folder / INT8_FILE)
    return document
