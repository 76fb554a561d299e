"""Many workers on one database: worker processes claiming short runs from the queue as fast as they can.

Queues N runs, then starts W worker processes that each register as a worker and loop: claim the next run
(engine.jobs.worker's own claim: SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, then a guarded UPDATE), mark it
finished, claim again, until the queue is empty. Every claim is timed. Run against a throwaway PostgreSQL server
(or DATABASE_URL when it names one) and, as the baseline in the same run, against a SQLite file.

Prints per database: claims per second, the median, 99th percentile and slowest claim, and double claims (a run
claimed by two workers; must be 0), checked twice: from what the workers saw and from the database (every run
finished once, with one attempt). Last line:
`pg_claims_per_s=<n> pg_slowest_claim_s=<s> pg_double_claims=<n> sqlite_claims_per_s=<n> sqlite_double_claims=<n>`.

    .venv/bin/python bench/claim_load.py                      # 32 workers, 2,000 runs (about a minute)
    .venv/bin/python bench/claim_load.py --workers 8 --runs 500
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def worker(number: int, start, results) -> None:
    """One worker: claim and finish runs until none is left; put (run ids, claim seconds) on results."""
    from db import repo

    host = f"bench-{number}"
    worker_id = repo.register_worker(host, os.getpid(), 1, ["cpu"])
    start.wait()
    claimed, seconds, empty = [], [], 0
    while empty < 3:  # a claim can find nothing while others hold every remaining row: try again briefly
        began = time.perf_counter()
        run = repo.claim_next_run(worker_id, host)
        seconds.append(time.perf_counter() - began)
        if run is None:
            empty += 1
            time.sleep(0.01)
            continue
        empty = 0
        claimed.append(run["id"])
        repo.finish_run(run["id"], "completed")
    results.put((claimed, seconds))


def load(url: str, workers: int, runs: int) -> dict[str, float]:
    """Give back the figures of `workers` processes emptying a queue of `runs` runs in the database at url."""
    os.environ["DATABASE_URL"] = url
    from db import repo
    from db.session import migrate

    migrate()  # the engine is looked up by URL, so each database gets its own
    dataset = repo.create_dataset(name=f"bench-{time.time_ns()}", kind="tabular", task="classification",
                                  target="label", n_rows=1, n_columns=2, n_classes=2, schema={}, quality_report={},
                                  files_path="", sha256="0" * 64)
    queued = [repo.create_run(dataset["id"], "mlp", {"model": {"name": "mlp"}})["id"] for _ in range(runs)]
    context = mp.get_context("spawn")  # each process opens its own connections
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=worker, args=(n, start, results)) for n in range(workers)]
    for process in processes:
        process.start()
    time.sleep(2 + workers * 0.15)  # let every worker import and register before the clock starts
    began = time.perf_counter()
    start.set()
    collected = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join(timeout=60)
    claimed = [run_id for ids, _ in collected for run_id in ids]
    times = sorted(t for _, seconds in collected for t in seconds)
    rows = [repo.get_run(run_id) for run_id in queued]
    return {"claims": len(claimed), "claims/s": len(claimed) / elapsed, "median ms": 1000 * statistics.median(times),
            "p99 ms": 1000 * times[int(0.99 * (len(times) - 1))], "slowest s": times[-1],
            "double claims": len(claimed) - len(set(claimed)),
            "wrong in database": sum(r["status"] != "completed" or r["attempts"] != 1 for r in rows),
            "busiest worker": max(len(ids) for ids, _ in collected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()

    from bench.pg_server import throwaway_postgres

    print(f"machine: {os.cpu_count()} CPU cores ({socket.gethostname()}); {args.workers} worker processes, "
          f"{args.runs} queued runs, each claimed and finished at once")
    figures = {}
    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        named = os.environ.get("DATABASE_URL", "")
        if named.startswith("postgresql"):
            figures["PostgreSQL"] = load(named, args.workers, args.runs)
        else:
            with throwaway_postgres(port=54331) as url:
                figures["PostgreSQL"] = load(url, args.workers, args.runs)
        figures["SQLite"] = load(f"sqlite:///{home}/claims.db", args.workers, args.runs)
    for name, result in figures.items():
        print(f"  {name:10} {result['claims']:,} claims in all, {result['claims/s']:7,.0f} claims/s, median "
              f"{result['median ms']:6.1f} ms, p99 {result['p99 ms']:7.1f} ms, slowest {result['slowest s']:5.2f} s, "
              f"double claims {result['double claims']}, runs not finished exactly once "
              f"{result['wrong in database']}, most runs by one worker {result['busiest worker']}")
    pg, lite = figures["PostgreSQL"], figures["SQLite"]
    print(f"pg_claims_per_s={pg['claims/s']:.0f} pg_slowest_claim_s={pg['slowest s']:.2f} "
          f"pg_double_claims={pg['double claims'] + pg['wrong in database']} "
          f"sqlite_claims_per_s={lite['claims/s']:.0f} "
          f"sqlite_double_claims={lite['double claims'] + lite['wrong in database']}")


if __name__ == "__main__":
    main()
