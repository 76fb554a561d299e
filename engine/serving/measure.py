"""Measuring an int8 model against the original in ONNX Runtime (one-row latency, batch throughput, the test
metric) and saying the measurement in words: the verdict, the warning, the comparison table. No torch here: the
dashboard reads these.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from engine.serving.runtime import OnnxModel

MAX_DROP_POINTS = 1.0  # a larger loss on the test metric is flagged in the verdict
BATCH_ROWS = 256  # rows per batch in the throughput measurement, fewer for large inputs
BATCH_BYTES = 16 * 2**20
BATCH_SECONDS = 1.0
ROUNDS = (3, 9)  # timing rounds, the two models taking turns so a busy machine slows both alike; fewer for slow ones
TIMING_SECONDS = 4.0  # about how long the rounds may take together


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
