"""int8 compression: file size, one-row latency, batch throughput and the test metric, before and after.

For each data set, the model a user gets for it (engine.presets.suggested_model) is trained from the Balanced
preset by the real runner, exported to ONNX, then made int8 exactly as `python -m engine export RUN --format onnx
--quantize int8` makes it (engine.serving.compress: dynamic for dense, recurrent, attention and embedding layers,
static with calibration rows from the training split for convolutions). Baseline: the float ONNX model in ONNX
Runtime, measured in the same process, in turns with the int8 one, on one CPU thread. The test metric is the
Evaluate page's: accuracy for classes, RMSE (in the target's units) for numbers and ratings; the drop is in
accuracy points, or in per cent of the original RMSE. A model that would drop more than 1 point is flagged.

    .venv/bin/python bench/compression.py                       # the samples and ../shared/data, one model each
    .venv/bin/python bench/compression.py --only iris digits     # some of them
    .venv/bin/python bench/compression.py --epochs 5 --prune 0.5 # shorter training; prune half the weights first

The last line reads `int8_size_ratio=<median> int8_speedup=<median> int8_metric_drop=<max>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.model_quality import REAL, REAL_FOLDER, add  # noqa: E402  (the same data sets, added the same way)

# One set per kind among the samples, and the real ones of ../shared/data.
DEFAULT_SETS = ("iris", "digits", "reviews", "films", "telco_churn", "ames_housing", "mnist_5k", "fine_food_reviews",
                "lecture_ratings")


def train(dataset: dict, model: str, epochs: int | None) -> dict:
    """Train model on dataset from the Balanced preset in the real runner; give back the finished run."""
    from db import repo
    from engine.config import validate_run_config
    from engine.presets import starting_config

    changes = {"training": {"device": "cpu"} | ({"epochs": epochs} if epochs else {})}
    config = validate_run_config(starting_config(dataset, model, "balanced", changes))
    run = repo.create_run(dataset["id"], model, config.model_dump())
    subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run["id"])], cwd=ROOT, capture_output=True,
                   timeout=3600)
    finished = repo.get_run(run["id"])
    if finished["status"] != "completed":
        raise RuntimeError(f"run {run['id']} {finished['status']}: {finished['error']}")
    return finished


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SET", help=f"data sets (default: {' '.join(DEFAULT_SETS)})")
    parser.add_argument("--model", help="train this model instead of the suggested one (every set of its kind)")
    parser.add_argument("--epochs", type=int, help="at most this many epochs (default: the preset's)")
    parser.add_argument("--prune", type=float, help="set this share of the weights to zero before quantising")
    args = parser.parse_args()
    sets = args.only or list(DEFAULT_SETS)
    missing = [key for key in sets if key in REAL and not (REAL_FOLDER / REAL[key][0]).exists()]
    if missing:
        print(f"skipped (not in {REAL_FOLDER}): {', '.join(missing)}")
        sets = [key for key in sets if key not in missing]

    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db.session import migrate
        from engine.errors import UserError
        from engine.models.registry import MODELS
        from engine.presets import suggested_model
        from engine.serving.export import export_run

        migrate()
        print(f"machine: {os.cpu_count()} CPU cores; ONNX Runtime on 1 thread, float ONNX against int8 in turns; "
              f"Balanced preset{f', at most {args.epochs} epochs' if args.epochs else ''}"
              f"{f', {args.prune:.0%} of the weights pruned first' if args.prune else ''}")
        header = ("kind", "data set", "model", "size MB before→after (ratio)", "1 row ms before→after",
                  "rows/s before→after (speedup)", "test metric before→after (drop)", "method", "flag")
        rows, documents = [], []
        for key in sets:
            started = time.perf_counter()
            dataset = add(key)
            model = args.model if args.model and dataset["kind"] in MODELS[args.model].kinds else (
                suggested_model(dataset))
            run = train(dataset, model, args.epochs)
            trained_s = time.perf_counter() - started
            try:
                document = export_run(run["id"], "onnx", quantize="int8", prune=args.prune)["check"]
            except UserError as error:
                print(f"  {key} {model}: refused: {error}", flush=True)
                rows.append((dataset["kind"], key, model, "-", "-", "-", "-", "refused", "REFUSED"))
                continue
            documents.append(document)
            before, after = document["before"], document["after"]
            metric = document["metric"]
            scale, unit = (100, " %") if metric == "accuracy" else (1, "")
            drop_unit = " pt" if metric == "accuracy" else " %"
            rows.append((
                dataset["kind"], key, model,
                f"{before['bytes'] / 1e6:.3f}→{after['bytes'] / 1e6:.3f} ({document['size_ratio']:.2f}×)",
                f"{before['latency_ms']:.3f}→{after['latency_ms']:.3f}",
                f"{before['rows_per_second']:,.0f}→{after['rows_per_second']:,.0f} ({document['speedup']:.2f}×)",
                f"{metric} {before['metric'] * scale:.4g}{unit}→{after['metric'] * scale:.4g}{unit} "
                f"({document['metric_drop']:+.2f}{drop_unit})",
                document["method"], "FLAGGED" if document["flagged"] else "ok"))
            print(f"  {key} {model}: trained in {trained_s:.0f} s, int8 made and measured in "
                  f"{document['seconds']:.1f} s: {document['verdict']}"
                  + (f" — {document['warning']}" if document["warning"] else ""), flush=True)

        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        print()
        for row in [header, *rows]:
            print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        print()
        if not documents:
            print("int8_size_ratio=n/a int8_speedup=n/a int8_metric_drop=n/a")
            return 1
        print(f"int8_size_ratio={statistics.median(d['size_ratio'] for d in documents):.3f} "
              f"int8_speedup={statistics.median(d['speedup'] for d in documents):.3f} "
              f"int8_metric_drop={max(d['metric_drop'] for d in documents):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
