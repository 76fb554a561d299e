"""An int8 version of a trained run's model, measured against the original on this machine's CPU.

ONNX Runtime quantises the run's ONNX export: dynamically (weights stored as int8, activations quantised as the
model runs) for dense, recurrent, attention and embedding layers, or statically with calibration rows from the
training split when the model has convolutions (ONNX Runtime's int8 convolutions need the activations' ranges
ahead of time). Magnitude pruning (the smallest weights of the dense and convolution layers set to zero) may come
first. The int8 model is then measured, never assumed: file size, one-row latency and batch throughput in ONNX
Runtime, and the test metric, before and after, in the same process. The int8 file and its measurement are kept
in runs/<id>/export/ beside the float export; nothing is written when quantisation fails.

torch is imported only where a model is pruned or exported, so the dashboard can read the measurement.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.errors import UserError
from engine.files import register_artifact, write_json
from db.session import run_folder
from engine.serving.runtime import COMPRESSION_FILE, INT8_FILE, ONNX_FILE, OnnxModel, export_folder

SCHEME = "int8"
MAX_DROP_POINTS = 1.0  # a larger loss on the test metric is flagged in the verdict
CALIBRATION_ROWS = 256  # training rows whose activations set the ranges of a static quantisation
BATCH_ROWS = 256  # rows per batch in the throughput measurement, fewer for large inputs
BATCH_BYTES = 16 * 2**20
BATCH_SECONDS = 1.0
ROUNDS = (3, 9)  # timing rounds, the two models taking turns so a busy machine slows both alike; fewer for slow ones
TIMING_SECONDS = 4.0  # about how long the rounds may take together
# Op types whose presence after quantisation means something is stored or computed in 8 bits.
INT8_OPS = {"MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
            "QLinearConv", "QLinearMatMul", "DynamicQuantizeLSTM", "QAttention", "QGemm", "DynamicQuantizeMatMul"}
LAYER_WORDS = {"Gemm": "dense", "MatMul": "matrix product", "Conv": "convolution", "LSTM": "LSTM", "GRU": "GRU",
               "Gather": "embedding", "Attention": "attention"}


# ---------------------------------------------------------------- quantising


def _dense_as_matmul(model):
    """Give back model with each Gemm on constant weights written as MatMul + Add.

    The dynamo exporter writes a dense layer as Gemm, which ONNX Runtime's dynamic quantisation leaves in float;
    as MatMul with the same weights it becomes an int8 matrix product.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    nodes = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.input[1] not in weights or attributes.get("transA", 0)
                or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        w = np.ascontiguousarray(w.T if attributes.get("transB", 0) else w)
        name = f"{node.input[1]}_for_matmul"
        graph.initializer.append(numpy_helper.from_array(w, name))
        if len(node.input) > 2 and node.input[2]:
            product = f"{node.output[0]}_product"
            nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}_matmul"))
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"))
        else:
            nodes.append(helper.make_node("MatMul", [node.input[0], name], [node.output[0]],
                                          name=f"{node.name}_matmul"))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def without_build_notes(model):
    """Give back model without what the exporter notes for debugging and ONNX Runtime never reads: each node's
    metadata (among it the source file and line it came from, with this computer's folders), doc strings, and the
    inferred shapes of values inside the graph. On a small network these notes weigh more than its weights."""
    def tidy(graph) -> None:
        del graph.value_info[:]
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attribute in node.attribute:
                for inner in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    tidy(inner)

    tidy(model.graph)
    return model


def tidy_file(path: Path) -> None:
    """Rewrite the ONNX file at path without its build notes (without_build_notes)."""
    import onnx

    onnx.save(without_build_notes(onnx.load(str(path))), str(path))


class _TrainingRows:
    """ONNX Runtime's calibration reader (CalibrationDataReader's get_next) over batches of training rows."""

    def __init__(self, x: np.ndarray, batch: int = 32):
        self.batches = iter([{"input": x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def _layers(path: Path) -> Counter:
    import onnx

    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def _weighted_layers(path: Path) -> list[str]:
    """Give back the op types of the model's nodes that hold weights (a constant input), or all its op types."""
    import onnx

    model = onnx.load(str(path))
    constants = {tensor.name for tensor in model.graph.initializer}
    weighted = sorted({node.op_type for node in model.graph.node if any(i in constants for i in node.input)})
    return weighted or sorted({node.op_type for node in model.graph.node})


def quantize_file(source: Path, target: Path, calibration: np.ndarray) -> str:
    """Write the int8 version of the ONNX model at source to target; give back the method, "static" or "dynamic".

    Convolutions are quantised statically (QDQ) with ranges measured on calibration rows; everything else
    dynamically; weights with a scale per output channel either way. Raises UserError naming the layers when nothing could be quantised.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    before = _layers(source)
    method = "static" if before.get("Conv") or before.get("ConvTranspose") else "dynamic"
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # ONNX Runtime's advice to pre-process, printed through the root logger
    try:
        if method == "static":
            quantize_static(str(source), str(target), _TrainingRows(calibration), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        else:
            # one scale per output column rather than per layer: the pretrained text model's test accuracy drops
            # 0.8 points instead of 1.5 on the fine food reviews (bench/compression.py)
            quantize_dynamic(_dense_as_matmul(onnx.load(str(source))), str(target), weight_type=QuantType.QInt8,
                             per_channel=True)
    except Exception as error:
        raise UserError(f"ONNX Runtime could not make an int8 version of this model ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200] if str(error) else ''}); its layers with weights are "
                        f"{', '.join(_weighted_layers(source))}.") from None
    finally:
        logger.setLevel(level)
    tidy_file(target)
    after = _layers(target)
    if not INT8_OPS & set(after):
        raise UserError("ONNX Runtime found nothing in this model it can store in int8: its layers with weights are "
                        f"{', '.join(_weighted_layers(source))}, and int8 covers dense, convolution, recurrent (LSTM), "
                        "attention and embedding layers. Keep the original model.")
    return method


# ---------------------------------------------------------------- measuring


def _per_call(model: OnnxModel, x: np.ndarray, seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    while True:
        model(x)
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / calls


def batch_rows(model: OnnxModel, x: np.ndarray) -> int:
    """Give back how many rows to give model at once: BATCH_ROWS, fewer for large inputs or a large model (a
    pretrained encoder on long texts needs gigabytes for a few hundred), judged from the time of one row."""
    one = x[:1]
    model(one)  # warm up: first calls allocate
    return max(8, min(BATCH_ROWS, BATCH_BYTES // max(1, one.nbytes), int(BATCH_SECONDS / _per_call(model, one, 0.02))))


def timings(models: dict[str, OnnxModel], x: np.ndarray, rows: int) -> dict[str, dict[str, float]]:
    """Give back each model's one-row latency (ms) and throughput on batches of rows (rows per second), medians of
    rounds taken in turns."""
    one = x[:1]
    for model in models.values():  # warm up: first calls allocate
        model(one)
    batch = np.concatenate([x] * (rows // len(x) + 1))[:rows]
    seen: dict[str, dict[str, list[float]]] = {name: {"one": [], "batch": []} for name in models}
    batch_seconds = 0.0
    for model in models.values():
        model(batch)
        started = time.perf_counter()
        model(batch)
        batch_seconds += time.perf_counter() - started
    rounds = max(ROUNDS[0], min(ROUNDS[1], int(TIMING_SECONDS / max(2 * batch_seconds, 1e-9))))
    for _ in range(rounds):
        for name, model in models.items():
            seen[name]["one"].append(_per_call(model, one, 0.03))
            seen[name]["batch"].append(_per_call(model, batch, 0.06))
    return {name: {"latency_ms": 1000 * statistics.median(times["one"]),
                   "rows_per_second": rows / statistics.median(times["batch"]), "batch_rows": rows}
            for name, times in seen.items()}


def _outputs(model: OnnxModel, x: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([model(x[i:i + rows]) for i in range(0, len(x), rows)])


def test_metric(prep: dict[str, Any], x: np.ndarray, y: np.ndarray, outputs: np.ndarray,
                y_train: np.ndarray) -> tuple[str, float]:
    """Give back the headline test metric of outputs as the Evaluate page shows it: ("accuracy", share right) for
    classes, ("rmse", error in the target's units) for numbers and ratings."""
    from engine.training.report import evaluation_report

    report = evaluation_report(prep, x, y, outputs, y_train)
    name = "accuracy" if prep["task"] == "classification" else "rmse"
    return name, float(report["metrics"][name])


def metric_drop(metric: str, before: float, after: float) -> float:
    """Give back how much worse the int8 model is, in points: percentage points of accuracy, or per cent of the
    original's RMSE. Negative when it is better."""
    if metric == "accuracy":
        return 100 * (before - after)
    return 100 * (after - before) / before if before else 0.0


# ---------------------------------------------------------------- words


def _times(ratio: float, more: str, less: str) -> str:
    return f"{ratio:.1f}× {more}" if ratio >= 1 else f"{1 / ratio:.1f}× {less}"


def metric_text(metric: str, value: float) -> str:
    return f"{100 * value:.1f} %" if metric == "accuracy" else f"{value:.4g}"


def verdict(document: dict[str, Any]) -> str:
    """Give back the one-line verdict: "4.1× smaller, 2.3× faster, accuracy 97.2 % → 97.0 %"."""
    metric, before, after = document["metric"], document["before"], document["after"]
    name = "accuracy" if metric == "accuracy" else "error (RMSE)"
    return (f"{_times(1 / document['size_ratio'], 'smaller', 'larger')}, "
            f"{_times(document['speedup'], 'faster', 'slower')}, "
            f"{name} {metric_text(metric, before['metric'])} → {metric_text(metric, after['metric'])}")


def warning(document: dict[str, Any]) -> str | None:
    """Give back the plain warning for an int8 model that loses more than MAX_DROP_POINTS or is no smaller than the
    original, else None."""
    drop = document["metric_drop"]
    if drop > MAX_DROP_POINTS and document["metric"] == "accuracy":
        return f"It loses {drop:.1f} points of accuracy: keep the original unless size matters most."
    if drop > MAX_DROP_POINTS:
        return f"Its error grows by {drop:.1f} %: keep the original unless size matters most."
    if document["size_ratio"] >= 1:
        return ("It is no smaller: this model has so few weights that what int8 adds to describe them weighs more "
                "than it saves. Keep the original.")
    return None


def comparison_rows(document: dict[str, Any]) -> list[list[str]]:
    """Give back the measurement as rows of [what, original, int8, change], for the command line and the page."""
    before, after = document["before"], document["after"]
    metric = document["metric"]
    drop = document["metric_drop"]
    if abs(drop) < 0.05:
        change = "same"
    else:  # accuracy in points gained or lost; the error in per cent of the original's
        change = f"{-drop:+.1f} points" if metric == "accuracy" else f"{drop:+.1f} % error"
    return [
        ["File size", f"{before['bytes'] / 1024:,.0f} KB", f"{after['bytes'] / 1024:,.0f} KB",
         _times(1 / document["size_ratio"], "smaller", "larger")],
        ["One row", f"{before['latency_ms']:.3f} ms", f"{after['latency_ms']:.3f} ms",
         _times(document["latency_speedup"], "faster", "slower")],
        [f"Batch of {before['batch_rows']} rows", f"{before['rows_per_second']:,.0f} rows/s",
         f"{after['rows_per_second']:,.0f} rows/s", _times(document["speedup"], "faster", "slower")],
        [f"Test {'accuracy' if metric == 'accuracy' else 'error (RMSE)'}", metric_text(metric, before["metric"]),
         metric_text(metric, after["metric"]), change],
    ]


METHOD_WORDS = {"dynamic": "dynamic int8 (weights stored in 8 bits, activations quantised as it runs)",
                "static": "static int8 (convolutions; activation ranges measured on {rows} training rows)"}


def method_text(document: dict[str, Any]) -> str:
    text = METHOD_WORDS[document["method"]].format(rows=document.get("calibration_rows", 0))
    if document.get("prune"):
        text += f", after setting the smallest {document['pruned_share']:.0%} of the weights to zero"
    return text


def table_text(document: dict[str, Any]) -> str:
    """Give back the measurement as the command line prints it: a table, the method, the verdict."""
    rows = [["", "ORIGINAL", "INT8", "CHANGE"]] + comparison_rows(document)
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += ["", f"Method: {method_text(document)}; measured with ONNX Runtime on one CPU thread of this machine.",
              f"Verdict: {document['verdict']}."]
    if document.get("warning"):
        lines.append(f"Warning: {document['warning']}")
    return "\n".join(lines)


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
    layers = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
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
