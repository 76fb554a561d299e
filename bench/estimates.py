"""Estimates against the truth: every real data set trained from each preset, the time the New run page and
`train --estimate` gave beside the time the run took.

Starts from a fresh home as a new user would: the computer is measured once (`python -m engine calibrate`), one
background worker (given the seconds its first run process takes to start, as before a user's first run) trains
the runs one after another, and before each run is queued its estimate is taken exactly
as the page takes it (engine.estimates.estimate_run), so each estimate can learn from the runs before it — the
first run of each kind of data has nothing to learn from. The time a run took is its worker's: from starting it
to its end (preparing the data, training, the classical reference and the evaluation).

    .venv/bin/python bench/estimates.py                          # every real set, Quick then Balanced
    .venv/bin/python bench/estimates.py --presets Quick Balanced Best
    .venv/bin/python bench/estimates.py --only hpc_jobs mnist_5k

The last line reads `estimate_within_2x=<n>/<total> within_range=<n>/<total>` (the aim: every ratio of the time
taken to the estimate between 0.5 and 2).
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


def main() -> int:
    from model_quality import REAL, add

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(REAL), default=None, help="just these data sets")
    parser.add_argument("--presets", nargs="*", choices=["Quick", "Balanced", "Best"], default=["Quick", "Balanced"],
                        help="presets, in the order each data set is trained (default Quick then Balanced)")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="trainyard-estimates-")
    os.environ["TRAINYARD_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    from db import repo
    from db.models import FINISHED
    from db.session import migrate
    from engine.estimates import estimate_run
    from engine.jobs.worker import SPARE_READY_SECONDS, start_background_worker
    from engine.presets import starting_config, suggested_model

    migrate()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "calibrate"], check=True, cwd=ROOT, capture_output=True)
    print(f"home {home}; measured this computer in {time.perf_counter() - started:.0f} s; "
          f"{os.cpu_count()} CPU cores", flush=True)
    worker = start_background_worker()
    # A user's first run comes after adding a data set, by when the worker's first run process has started; the
    # first run here would otherwise also wait for it (a few seconds, which no estimate prices).
    time.sleep(SPARE_READY_SECONDS + 2)
    header = (f"{'data set':<18} {'preset':<9} {'model':<21} {'estimate':<34} {'took':>7} {'ratio':>6}  "
              f"{'in 2x':<5} {'in range':<8} learned from")
    print(header + "\n" + "-" * len(header), flush=True)
    within, in_range, total = 0, 0, 0
    try:
        for key in args.only or list(REAL):
            dataset = add(key)
            model = suggested_model(dataset)
            for preset in args.presets:
                config = starting_config(dataset, model, preset, {})
                estimate = estimate_run(config, dataset)
                run = repo.create_run(dataset["id"], model, config)
                while (run := repo.get_run(run["id"]))["status"] not in FINISHED:
                    time.sleep(0.5)
                if run["status"] != "completed":
                    print(f"{key:<18} {preset:<9} {model:<21} run {run['id']} {run['status']}: {run['error']}")
                    continue
                took = (run["finished_at"] - run["started_at"]).total_seconds()
                ratio = took / estimate.seconds
                total += 1
                within += 0.5 <= ratio <= 2
                in_range += estimate.low <= took <= estimate.high
                said = f"{estimate.seconds:.0f} s ({estimate.low:.0f}–{estimate.high:.0f} s)"
                print(f"{key:<18} {preset:<9} {model:<21} {said:<34} {took:>6.0f}s {ratio:>6.2f}  "
                      f"{'yes' if 0.5 <= ratio <= 2 else 'NO':<5} {'yes' if estimate.low <= took <= estimate.high else 'no':<8} "
                      f"{len(estimate.learned_from)} run(s)", flush=True)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print("(ratio: the time the run took over the estimate; range: the low and high the page shows)")
    print(f"estimate_within_2x={within}/{total} within_range={in_range}/{total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
