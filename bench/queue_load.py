"""Load on the queue database: several runs writing metrics every step while the dashboard polls.

Starts N writer processes, each logging a point per training step (one transaction per step, the
worst case; real runs batch their writes), and one reader process that runs the dashboard's queries
twice a second. Prints points written per second, lost points, "database is locked" errors and the
slowest query. Last line: `points_per_s=<n> locked_errors=<n> lost_points=<n> slowest_query_s=<s>`.

    .venv/bin/python bench/queue_load.py [--seconds 60] [--writers 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def writer(run_id: int, seconds: float, results) -> None:
    from sqlalchemy.exc import OperationalError

    from db import repo

    written = errors = step = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        step += 1
        try:
            repo.log_metrics(run_id, [("train_loss", step, 1.0 / step, step / 100, time.time()),
                                      ("train_accuracy", step, 1 - 1.0 / step, step / 100, time.time())])
            written += 2
        except OperationalError as error:
            errors += "locked" in str(error)
        if step % 20 == 0:
            repo.update_progress(run_id, min(1.0, step / 10000), 10.0)
    results.put(("writer", run_id, written, errors))


def reader(run_ids: list[int], seconds: float, results) -> None:
    from sqlalchemy.exc import OperationalError

    from db import repo

    slowest = 0.0
    queries = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick = time.monotonic()
        for query in (lambda: repo.list_runs(limit=500), lambda: repo.get_run(run_ids[0]),
                      lambda: repo.metric_history(run_ids[0]), lambda: repo.metric_summaries(run_ids[-1]),
                      lambda: repo.list_runs(statuses=["queued", "running"]), lambda: repo.queue_positions()):
            started = time.perf_counter()
            try:
                query()
            except OperationalError as error:
                errors += "locked" in str(error)
            slowest = max(slowest, time.perf_counter() - started)
            queries += 1
        time.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))  # poll twice a second
    results.put(("reader", 0, queries, errors, slowest))


def load_test(seconds: float, writers: int) -> dict:
    from db import repo
    from db.session import migrate

    migrate()
    dataset = repo.create_dataset(name=f"load-{time.time()}", kind="tabular", task="classification", target="y",
                                  n_rows=1, n_columns=2, schema={}, quality_report={}, files_path="/",
                                  sha256="0" * 64)
    worker_id = repo.register_worker("load-test", os.getpid(), writers, ["cpu"])
    run_ids = []
    for _ in range(writers):
        repo.create_run(dataset["id"], "mlp", {})
        run_ids.append(repo.claim_next_run(worker_id, "load-test")["id"])
    results = mp.get_context("spawn").Queue()
    processes = [mp.get_context("spawn").Process(target=writer, args=(run_id, seconds, results)) for run_id in run_ids]
    processes.append(mp.get_context("spawn").Process(target=reader, args=(run_ids, seconds, results)))
    started = time.monotonic()
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.monotonic() - started
    written = sum(o[2] for o in outcomes if o[0] == "writer")
    stored = sum(len(repo.metric_history(run_id)) for run_id in run_ids)
    reader_outcome = next(o for o in outcomes if o[0] == "reader")
    return {
        "seconds": round(elapsed, 1), "writers": writers, "points_written": written, "points_stored": stored,
        "lost_points": written - stored, "points_per_s": round(written / elapsed),
        "locked_errors": sum(o[3] for o in outcomes), "dashboard_queries": reader_outcome[2],
        "slowest_query_s": round(reader_outcome[4], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        if not os.environ.get("DATABASE_URL"):
            os.environ["TRAINYARD_HOME"] = home
        figures = load_test(args.seconds, args.writers)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    print(f"points_per_s={figures['points_per_s']} locked_errors={figures['locked_errors']} "
          f"lost_points={figures['lost_points']} slowest_query_s={figures['slowest_query_s']}")


if __name__ == "__main__":
    main()
