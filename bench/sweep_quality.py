"""Auto against Balanced and the classical reference, on real data sets, in real worker processes.

For each data set and seed, in a fresh Trainyard home with one worker: a Balanced run (what Train gives with no
settings) and an Auto sweep with a time budget (`train --preset auto --budget`), both on the same split (split
seed = seed). Printed per set and seed: Balanced's test figure, the test figure of the run Auto recommends (its
best trial by the validation figure, unless that is not ahead of its Balanced trial by more than the validation
rows' luck of the draw), how many trials Auto ran and stopped early, and the classical reference a
finished run fits on the same rows. Then the means per set, and a last line `auto_vs_balanced_ahead=<n>/<total>`:
the sets where Auto's mean is ahead of Balanced's.

    .venv/bin/python bench/sweep_quality.py                       # hpc_jobs, lecture_ratings, fine_food_reviews
    .venv/bin/python bench/sweep_quality.py --only hpc_jobs --budget 3m --seeds 1

Metric: test accuracy (higher is better) or test RMSE in the target's units (lower is better).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SETS = ("hpc_jobs", "lecture_ratings", "fine_food_reviews")


def test_figure(summary: dict) -> tuple[str, float]:
    key = "test_accuracy" if "test_accuracy" in summary else "test_rmse"
    return key, summary[key]


def one(key: str, seed: int, budget: float) -> dict:
    """Balanced and Auto on data set key with split and training seed seed, in a fresh home."""
    from db import repo
    from db.models import FINISHED
    from db.session import migrate
    from engine.search.results import sweep_document
    from engine.search.running import wait_for_sweep
    from engine.search.sweeps import create_auto
    from model_quality import add

    os.environ["TRAINYARD_HOME"] = tempfile.mkdtemp(prefix=f"sweep-bench-{key}-")
    os.environ.pop("DATABASE_URL", None)
    migrate()
    dataset = add(key)
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        from engine.config import validate_run_config
        from engine.presets import starting_config, suggested_model

        seeds = {"split": {"seed": seed}, "training": {"seed": seed}}
        config = validate_run_config(starting_config(dataset, suggested_model(dataset), "Balanced", seeds))
        started = time.monotonic()
        run = repo.create_run(dataset["id"], config.model.name, config.model_dump(), name="Balanced")
        while repo.get_run(run["id"])["status"] not in FINISHED:
            time.sleep(1)
        balanced_seconds = time.monotonic() - started
        summary = repo.run_summary(run["id"])
        metric, balanced = test_figure(summary)
        reference = summary.get(metric.replace("test_", "reference_"))
        started = time.monotonic()
        sweep = create_auto(dataset, budget, parallel=1, changes=seeds)
        wait_for_sweep(sweep["id"])
        auto_seconds = time.monotonic() - started
        document = sweep_document(sweep["id"])
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    best = document["recommended"]  # what Auto recommends: its best trial, or Balanced when that is not clearly ahead
    return {"metric": metric, "balanced": balanced, "auto": best["test"].get(metric) if best else None,
            "reference": reference, "trials": len(document["trials"]), "pruned": document["counts"]["pruned"],
            "best_model": best["model"] if best else None, "balanced_seconds": balanced_seconds,
            "auto_seconds": auto_seconds}


def ahead(metric: str, ours: float | None, theirs: float | None) -> bool:
    if ours is None or theirs is None:
        return False
    return ours > theirs if metric == "test_accuracy" else ours < theirs


def main() -> int:
    from engine.search.sweeps import parse_budget

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=list(SETS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--budget", default="10m", help="Auto's time budget (default 10m)")
    args = parser.parse_args()
    budget = parse_budget(args.budget)
    print(f"Auto ({args.budget}) against Balanced and the classical reference; {os.cpu_count()} CPU cores")
    print(f"{'set':<18} {'seed':>4}  {'metric':<13} {'Balanced':>9} {'Auto':>9} {'reference':>9}  "
          f"{'trials':>6} {'pruned':>6}  {'best model':<20} {'Balanced s':>10} {'Auto s':>7}")
    wins = 0
    for key in args.only:
        results = []
        for seed in range(args.seeds):
            r = one(key, seed, budget)
            results.append(r)
            print(f"{key:<18} {seed:>4}  {r['metric']:<13} {r['balanced']:>9.4f} "
                  f"{(r['auto'] if r['auto'] is not None else float('nan')):>9.4f} "
                  f"{(r['reference'] if r['reference'] is not None else float('nan')):>9.4f}  {r['trials']:>6} "
                  f"{r['pruned']:>6}  {str(r['best_model']):<20} {r['balanced_seconds']:>10.0f} "
                  f"{r['auto_seconds']:>7.0f}", flush=True)
        metric = results[0]["metric"]
        mean = {name: sum(r[name] for r in results) / len(results) if all(r[name] is not None for r in results)
                else None for name in ("balanced", "auto", "reference")}
        won = ahead(metric, mean["auto"], mean["balanced"])
        wins += won
        print(f"{key:<18} mean  {metric:<13} {mean['balanced']:>9.4f} "
              f"{(mean['auto'] if mean['auto'] is not None else float('nan')):>9.4f} "
              f"{(mean['reference'] if mean['reference'] is not None else float('nan')):>9.4f}  Auto ahead of "
              f"Balanced: {'yes' if won else 'NO'}; of the reference: "
              f"{'yes' if ahead(metric, mean['auto'], mean['reference']) else 'NO'}", flush=True)
    print(f"auto_vs_balanced_ahead={wins}/{len(args.only)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
