"""From pressing Train to the first point of the loss on the run page, in a real browser, per kind of sample.

Starts the dashboard as `make run` does (with its local worker) on a fresh home, adds one sample of each kind,
and for each: opens New run on it, presses Train with the suggested settings, and waits for the run page's
training-loss chart. Each Train is pressed with the worker idle and its next run process ready, as a user finds it
who has added a data set and chosen settings: the last sample's run is cancelled, then the bench waits the seconds
such a process takes to start (`--back-to-back` presses at once: a run then waits for that start too). Printed beside it, from the database of the same run: when the worker started the run and
when the first loss point was written, so the time splits into waiting for the worker, the run's own start-up
(Python, PyTorch, preparing the data) and showing it.

    .venv/bin/python bench/first_point.py                 # iris, reviews, films, digits (a few minutes)
    .venv/bin/python bench/first_point.py --samples iris

Needs Debian's chromium and Playwright (`make install-test`). The last line reads
`first_point_within_3s=<n>/<total> slowest_first_point_s=<s>`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = {"iris": "table", "reviews": "texts", "films": "ratings", "digits": "pictures"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", nargs="+", default=list(SAMPLES), choices=list(SAMPLES))
    parser.add_argument("--back-to-back", action="store_true",
                        help="press Train as soon as the last sample's first point is shown")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db import repo
        from db.session import migrate
        from engine.data.samples import add_sample
        from engine.jobs.worker import SPARE_READY_SECONDS
        from tests.browser import Dashboard, browser_page, stop_workers, wait_idle

        migrate()
        datasets = {sample: add_sample(sample) for sample in args.samples}
        dashboard = Dashboard(Path(home)).start()
        rows = []
        try:
            with browser_page() as page:
                page.goto(f"{dashboard.url}/queue")  # the worker the dashboard starts is up before the clock runs
                wait_idle(page)
                deadline = time.monotonic() + 60
                while not repo.alive_workers(30) and time.monotonic() < deadline:
                    time.sleep(0.5)
                for sample, dataset in datasets.items():
                    if not args.back_to_back:  # the last run gone, and a process ready for the next
                        while repo.list_runs(statuses=["queued", "running"], with_metrics=False):
                            time.sleep(0.2)
                        time.sleep(SPARE_READY_SECONDS + 2)
                    page.goto(f"{dashboard.url}/new-run?dataset={dataset['id']}")
                    train = page.get_by_role("button", name="Train", exact=True)
                    train.wait_for()
                    wait_idle(page)
                    pressed = time.time()
                    train.click()
                    page.wait_for_url("**/run?run=*", timeout=60_000)
                    run_id = int(page.evaluate("() => new URL(location.href).searchParams.get('run')"))
                    page.locator(".gtitle", has_text="loss").first.wait_for(timeout=300_000)
                    shown = time.time() - pressed
                    run = repo.get_run(run_id)
                    first = min((p["time"] for p in repo.metric_history(run_id, "train_loss")), default=None)
                    started = run["started_at"].replace(tzinfo=timezone.utc).timestamp() if run["started_at"] else None
                    rows.append((sample, shown, started - pressed if started else None,
                                 first - pressed if first else None))
                    repo.request_cancel(run_id)  # the next sample does not wait behind it
        finally:
            dashboard.stop()
            stop_workers(Path(home))

    print(f"machine: {os.cpu_count()} CPU cores; seconds after pressing Train (the suggested settings)")
    print(f"  {'sample':8} {'kind':9} {'worker started it':>18} {'first loss written':>19} {'first point shown':>18}")
    for sample, shown, started, first in rows:
        print(f"  {sample:8} {SAMPLES[sample]:9} {started or float('nan'):18.1f} {first or float('nan'):19.1f} "
              f"{shown:18.1f}")
    within = sum(shown <= 3.0 for _, shown, _, _ in rows)
    print(f"first_point_within_3s={within}/{len(rows)} slowest_first_point_s={max(s for _, s, _, _ in rows):.1f}")


if __name__ == "__main__":
    main()
