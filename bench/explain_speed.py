"""Seconds to explain one input, per sample data set, with the model its Balanced preset trains (or any other).

Adds each sample to a throw-away home, trains it from the Balanced preset for one epoch (the time an explanation
takes depends on the model's size, not on how long it trained), then explains one input from this process
(PyTorch and Captum already loaded, as in the HTTP service) several times and prints the first and the median
time, the method and its steps. Explanations run PyTorch on one thread (engine.explain.attributions.EXPLAIN_THREADS).
The command line adds about 3 s to start Python, PyTorch and Captum.

    .venv/bin/python bench/explain_speed.py                           # every sample; a few minutes on 2 CPU cores
    .venv/bin/python bench/explain_speed.py --samples iris reviews
    .venv/bin/python bench/explain_speed.py --samples digits --models seed_cnn efficientnet_lite0

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


LONG_TEXT = " ".join(["The battery lasts for days and the screen is sharp, but the case cracked after a week."] * 14)


def one_input(prep: dict, dataset: dict, long: bool = False):
    """Give back one raw input of the data set's kind (for texts a short review, or with long one of ~240 words)."""
    from engine.serving.inputs import inputs_for

    inputs = inputs_for(prep)
    if prep["kind"] == "image":
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.effect_noise((prep["width"], prep["height"]), 60).convert("RGB").save(buffer, format="PNG")
        return [buffer.getvalue()]
    if prep["kind"] == "text":
        short = ("The battery lasts for days and the screen is sharp, but the case cracked after a week and support "
                 "never answered my emails.")
        return inputs.frame(prep, [LONG_TEXT if long else short])
    return inputs.example(prep)


def train(dataset_id: int, model: str | None) -> int:
    args = [sys.executable, "-m", "engine", "train", "--dataset", str(dataset_id), "--epochs", "1", "--wait", "--json"]
    if model:
        args += ["--model", model]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout)["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", nargs="*", help="sample keys (default: all)")
    parser.add_argument("--models", nargs="*", default=[None], help="models to train instead of the preset's")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db import repo
        from db.session import migrate
        from engine.data.samples import SAMPLES, add_sample
        from engine.explain.attributions import explain_inputs
        from engine.models.registry import MODELS
        from engine.serving.predict import load_trained

        migrate()
        print(f"{'sample':<16} {'model':<22} {'method':<58} {'steps':>5} {'first s':>8} {'median s':>8}", flush=True)
        for key in options.samples or list(SAMPLES):
            dataset = add_sample(key)
            for model in options.models:
                if model and dataset["kind"] not in MODELS[model].kinds:
                    continue
                run_id = train(dataset["id"], model)
                trained = load_trained(run_id)
                name = repo.get_run(run_id)["model"]
                for long in (False, True) if dataset["kind"] == "text" else (False,):
                    raw = one_input(trained.preprocessing, dataset, long)
                    times = []
                    for _ in range(options.repeats):
                        started = time.perf_counter()
                        result = explain_inputs(trained, raw)[0]
                        times.append(time.perf_counter() - started)
                    label = f"{key} (long)" if long else key
                    print(f"{label:<16} {name:<22} {result['method']:<58} {result.get('steps', '-'):>5} "
                          f"{times[0]:>8.2f} {statistics.median(times):>8.2f}", flush=True)


if __name__ == "__main__":
    main()
