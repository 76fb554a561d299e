"""The runs explorer at ten thousand runs: how long the runs list and one run's charts take to draw.

Seeds a SQLite database with 10,000 runs and 5,000,000 metric points: one long run of 1,000,000 points
(three curves of a third of a million points each) and 9,999 runs of 400 points. Then times, through
the functions the pages use (queries, the table, the Plotly figures and their JSON), the runs list in
several orders and filters, and the charts of the long run and of a typical one, each next to the plain
SQL query underneath. Prints the median of several tries. Last line: `list_s=<seconds> chart_s=<seconds>`,
the slowest list and the long run's charts.

    .venv/bin/python bench/runs_explorer.py [--home DIR] [--tries 5]

With --home, a database already seeded there is reused (seeding takes about a minute).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RUNS = 10_000
POINTS = 5_000_000
LONG_CURVES = ("train_loss", "train_accuracy", "learning_rate")
# Per ordinary run: 400 points, like a short training logged every few steps.
SHAPE = {"train_loss": 150, "train_accuracy": 150, "learning_rate": 60, "val_loss": 18, "val_accuracy": 18,
         "test_accuracy": 1, "epochs_completed": 1, "samples_per_second": 1, "test_f1_macro": 1}
MODELS = ("mlp", "seed_cnn", "resnet_small", "lstm", "transformer", "ncf")
TAGS = ("baseline", "sweep", "demo", "wide", "small-lr", "long")


def median_time(action, tries: int) -> tuple[float, float]:
    """Give back (first, median of the rest) seconds of action()."""
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:] or times)


# ---------------------------------------------------------------- seeding


def curve(key: str, n: int, span: int, rng: random.Random, quality: float) -> list[tuple[int, float]]:
    """Give back n (step, value) points over span steps, shaped like the metric: losses fall, accuracies rise."""
    points = []
    for i in range(n):
        step = round((i + 1) * span / n)
        progress = (i + 1) / n
        if key == "learning_rate":
            value = 0.001 * (0.5 + 0.5 * (1 - progress))
        elif "loss" in key:
            value = (1.2 - quality) * (0.2 + 0.8 * (1 - progress) ** 3) + rng.random() * 0.05
        elif key == "epochs_completed":
            value = 20.0
        elif key == "samples_per_second":
            value = 5000 + rng.random() * 20000
        else:
            value = quality * (0.5 + 0.5 * progress ** 0.5) + rng.random() * 0.02
        points.append((step, value))
    return points


def seed(home: Path) -> int:
    """Fill a fresh database in home; give back the id of the long run."""
    from sqlalchemy import insert

    from db.models import Dataset, Run
    from db.session import get_engine, migrate

    migrate()
    rng = random.Random(0)
    engine = get_engine()
    now = datetime(2026, 11, 1)
    with engine.begin() as conn:
        conn.execute(insert(Dataset), [
            {"name": f"{name}", "kind": kind, "task": "classification", "target": "label", "n_rows": 10_000,
             "n_columns": 12, "n_classes": 10, "schema": {}, "quality_report": {}, "files_path": "/nowhere",
             "sha256": "0" * 64, "created_at": now}
            for name, kind in (("customers", "tabular"), ("churn", "tabular"), ("reviews", "text"),
                               ("tickets", "text"), ("cifar-10", "image"), ("flowers", "image"),
                               ("movies", "ratings"), ("shop", "ratings"))])
        runs = []
        for i in range(1, RUNS + 1):
            status = rng.choices(["completed", "failed", "cancelled", "running", "queued"], [85, 5, 5, 3, 2])[0]
            created = now - timedelta(minutes=rng.randint(0, 180 * 24 * 60))
            started = created + timedelta(seconds=30) if status != "queued" else None
            config = {"model": {"name": rng.choice(MODELS), "dropout": rng.choice([0.0, 0.1, 0.2, 0.3])},
                      "training": {"epochs": rng.choice([5, 10, 20, 40]), "batch_size": rng.choice([32, 64, 128]),
                                   "learning_rate": rng.choice([0.1, 0.03, 0.01, 0.003, 0.001]),
                                   "optimizer": rng.choice(["adam", "adamw", "sgd"])},
                      "split": {"validation_fraction": 0.15, "test_fraction": 0.15, "seed": 0}}
            runs.append({
                "id": i, "name": f"{rng.choice(['sweep', 'try', 'baseline', 'demo'])} {i}", "dataset_id": 1 + i % 8,
                "model": config["model"]["name"], "config": config, "status": status, "created_at": created,
                "started_at": started,
                "finished_at": started + timedelta(minutes=rng.randint(1, 90)) if status in (
                    "completed", "failed", "cancelled") else None,
                "progress": 1.0 if status == "completed" else rng.random() if status != "queued" else 0.0,
                "cancel_requested": False, "attempts": 1, "device": rng.choice(["cuda:0", "cpu"]),
                "tags": rng.sample(TAGS, rng.randint(0, 2)), "environment": {},
            })
        conn.execute(insert(Run), runs)

    long_run = RUNS // 2
    raw = engine.raw_connection()
    cursor = raw.cursor()
    points, summaries, written = [], [], 0

    def flush():
        nonlocal points, written
        cursor.execute("BEGIN")
        cursor.executemany("INSERT INTO metrics (run_id, key, step, value, epoch, wall_time) VALUES (?,?,?,?,?,?)",
                           points)
        cursor.execute("COMMIT")
        written += len(points)
        points = []

    # The long run holds what the others leave of POINTS: validation curves and three long training curves.
    long_total = POINTS - (RUNS - 1) * sum(SHAPE.values()) - 400
    long_shape = {k: long_total // 3 + (i < long_total % 3) for i, k in enumerate(LONG_CURVES)}
    long_shape |= {"val_loss": 200, "val_accuracy": 200}
    start = 1.7e9
    for run_id in range(1, RUNS + 1):
        quality = 0.55 + 0.4 * rng.random()
        shape, span = (long_shape, long_total // 3 + 1) if run_id == long_run else (SHAPE, 3000)
        for key, n in shape.items():
            series = curve(key, n, span, rng, quality)
            points += [(run_id, key, step, value, step * 20 / span, start + step * 0.05) for step, value in series]
            low = min(series, key=lambda p: p[1])
            high = max(series, key=lambda p: p[1])
            summaries.append((run_id, key, series[-1][1], series[-1][0], low[1], low[0], high[1], high[0], n))
        if len(points) >= 500_000:
            flush()
    flush()
    assert written == POINTS, written
    cursor.execute("BEGIN")
    cursor.executemany("INSERT INTO metric_summary (run_id, key, last_value, last_step, min_value, min_step, "
                       "max_value, max_step, count) VALUES (?,?,?,?,?,?,?,?,?)", summaries)
    cursor.execute("COMMIT")
    cursor.execute("ANALYZE")
    raw.close()
    return long_run


# ---------------------------------------------------------------- timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", help="folder for the database (reused when already seeded)")
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="trainyard-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["TRAINYARD_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    logging.getLogger("streamlit").setLevel(logging.ERROR)

    from sqlalchemy import text

    from db import explorer
    from db.session import get_engine, migrate

    migrate()
    with get_engine().connect() as conn:
        counts = conn.execute(text("SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM metrics)")).one()
    if tuple(counts) == (RUNS, POINTS):
        long_run = RUNS // 2
        print(f"reusing the database in {home}")
        with get_engine().begin() as conn:  # so the first view is timed as on a fresh database
            conn.execute(text("DELETE FROM metric_extremes"))
            conn.execute(text("UPDATE metric_summary SET extremes_through = NULL, extremes_block = NULL"))
    else:
        if counts[0]:
            raise SystemExit(f"{home} holds another database; give an empty folder to --home")
        started = time.perf_counter()
        long_run = seed(home)
        print(f"seeded {RUNS:,} runs and {POINTS:,} metric points in {time.perf_counter() - started:.1f} s "
              f"({home / 'trainyard.db'}, {(home / 'trainyard.db').stat().st_size / 1e6:,.0f} MB)")

    import pyarrow as pa
    from dashboard.components import explorer as ex

    def show_list(filters, sort, page=1):
        choices = explorer.filter_choices()
        found = explorer.find_runs(filters, sort=sort, page=page, per_page=50)
        sort_key = sort.removeprefix("best:") if sort.startswith("best:") else None
        frame = ex.runs_frame(found.runs, sort_key)
        pa.Table.from_pandas(frame)  # what st.dataframe sends to the browser
        return choices, found

    engine = get_engine()

    def plain(sql: str, **params):
        def action():
            with engine.connect() as conn:
                return conn.execute(text(sql), params).all()
        return action

    page_ids = ",".join(str(r["id"]) for r in explorer.find_runs(explorer.RunFilters(), "newest").runs)
    plain_newest = plain(
        "SELECT runs.id, runs.name, runs.status, runs.model, runs.created_at, datasets.name FROM runs "
        "JOIN datasets ON datasets.id = runs.dataset_id WHERE runs.archived_at IS NULL "
        "ORDER BY runs.created_at DESC, runs.id DESC LIMIT 50")
    plain_best = plain(
        "SELECT runs.id, runs.name, s.max_value FROM runs JOIN datasets ON datasets.id = runs.dataset_id "
        "LEFT JOIN metric_summary s ON s.run_id = runs.id AND s.key = 'val_accuracy' "
        "WHERE runs.archived_at IS NULL ORDER BY s.max_value DESC NULLS LAST, runs.id DESC LIMIT 50")
    scenarios = [
        ("newest first", explorer.RunFilters(), "newest", 1, plain_newest),
        ("best validation accuracy first", explorer.RunFilters(), "best:val_accuracy", 1, plain_best),
        ("page 150 of 200", explorer.RunFilters(), "newest", 150, plain_newest),
        ("search 'sweep 12'", explorer.RunFilters(search="sweep 12"), "newest", 1, plain_newest),
        ("two models, a tag, finished, val. accuracy >= 0.8",
         explorer.RunFilters(models=("mlp", "lstm"), tags=("sweep",), statuses=("completed",),
                             best_ranges=(("val_accuracy", 0.8, None),)), "best:val_accuracy", 1, plain_best),
    ]
    print(f"\nRuns list, 50 runs a page (median of {args.tries}; plain SQL = the page's rows only):")
    list_times = []
    for name, filters, sort, page, sql in scenarios:
        _, shown = median_time(lambda: show_list(filters, sort, page), args.tries)
        _, bare = median_time(sql, args.tries)
        total = show_list(filters, sort, page)[1].total
        list_times.append(shown)
        print(f"  {name:<52} {shown:6.3f} s   plain SQL {bare:6.3f} s   ({total:,} runs match)")
    print(f"  summaries of the 50 runs on a page, plain SQL       "
          f"{median_time(plain(f'SELECT * FROM metric_summary WHERE run_id IN ({page_ids})'), args.tries)[1]:6.3f} s")

    def show_charts(run_id: int):
        summaries = explorer.metric_summaries(run_id)
        curves = explorer.run_history(run_id, [k for k, s in summaries.items() if s["count"] > 1])
        figures = ex.run_charts(summaries, curves, "step", 0.6)
        for _, figure in figures:
            figure.to_json()  # what st.plotly_chart sends to the browser
        return curves

    print(f"\nOne run's charts: every curve down-sampled to about {explorer.POINTS_PER_CURVE:,} points, "
          "smoothed, as Plotly figures:")
    first_view, _ = median_time(lambda: show_charts(long_run), 1)
    curves = show_charts(long_run)
    _, chart = median_time(lambda: show_charts(long_run), args.tries)
    keys = "','".join(curves)
    _, bare_all = median_time(plain(
        f"SELECT key, step, value, epoch, wall_time FROM metrics WHERE run_id = :run AND key IN ('{keys}') "
        "ORDER BY key, step", run=long_run), min(args.tries, 3))
    _, bare_sampled = median_time(lambda: explorer.run_history(long_run, curves), args.tries)
    drawn = sum(len(c) for c in curves.values())
    stored = sum(s["count"] for s in explorer.metric_summaries(long_run).values())
    print(f"  run {long_run}: {stored:,} points in {len(curves)} curves, {drawn:,} drawn")
    print(f"    first view (stores each long curve's block extremes once) {first_view:6.3f} s")
    print(f"    later views                                         {chart:6.3f} s")
    print(f"    plain SQL: the down-sampling queries alone          {bare_sampled:6.3f} s")
    print(f"    plain SQL: reading every point instead              {bare_all:6.3f} s")
    typical = long_run + 1
    _, chart_typical = median_time(lambda: show_charts(typical), args.tries)
    _, bare_typical = median_time(plain(
        "SELECT key, step, value, epoch, wall_time FROM metrics WHERE run_id = :run ORDER BY key, step",
        run=typical), args.tries)
    print(f"  run {typical}: 400 points in 6 curves                  {chart_typical:6.3f} s   "
          f"plain SQL {bare_typical:6.3f} s")

    print(f"\nlist_s={max(list_times):.3f} chart_s={chart:.3f}")


if __name__ == "__main__":
    main()
