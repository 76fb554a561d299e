"""Teams run Trainyard on PostgreSQL: migrations, exclusive claims and a whole run on a real server.

The server is a throwaway cluster listening on a Unix socket only. Skipped, with the reason, where
PostgreSQL's server programs are not installed (`apt-get install -y postgresql`; CI installs them).
"""

import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from tests.conftest import cli, make_table, start_worker, stop, wait_until


def _claim_all(worker_name: str) -> list[int]:
    from db import repo

    worker_id = repo.register_worker(worker_name, os.getpid(), 1, ["cpu"])
    claimed = []
    while (run := repo.claim_next_run(worker_id, worker_name)) is not None:
        claimed.append(run["id"])
    return claimed


@pytest.mark.slow
def test_migrations_match_models_on_postgres(pg_home):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from db.models import Base
    from db.session import get_engine

    with get_engine().connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []


@pytest.mark.slow
def test_workers_on_several_machines_never_claim_the_same_run(pg_home):
    from db import repo

    dataset = repo.create_dataset(name="d", kind="tabular", task="classification", target="y", n_rows=1,
                                  n_columns=2, schema={}, quality_report={}, files_path="/", sha256="0" * 64)
    queued = [repo.create_run(dataset["id"], "mlp", {})["id"] for _ in range(60)]
    with ProcessPoolExecutor(4) as pool:
        claims = list(pool.map(_claim_all, [f"machine-{i}" for i in range(4)]))
    everything = [run_id for claim in claims for run_id in claim]
    assert sorted(everything) == queued  # each run claimed exactly once
    repo.log_metrics(queued[0], [("loss", 1, 0.5, 0, 0), ("loss", 1, 0.4, 0, 0)])  # upserts work too
    assert repo.metric_history(queued[0]) [0]["value"] == 0.4


@pytest.mark.slow
def test_a_whole_run_on_postgres(pg_home, tmp_path):
    path = tmp_path / "t.csv"
    make_table().to_csv(path, index=False)
    assert cli("datasets", "add", str(path), "--name", "t").returncode == 0
    result = cli("train", "--dataset", "t", "--epochs", "2", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert '"status": "completed"' in result.stdout


@pytest.mark.slow
def test_two_sweeps_share_two_workers_on_postgres(pg_home, tmp_path):
    from db import repo
    from engine.search.sweeps import create_sweep

    path = tmp_path / "t.csv"
    make_table(rows=200).to_csv(path, index=False)
    assert cli("datasets", "add", str(path), "--name", "t").returncode == 0
    dataset = repo.get_dataset("t")
    made = [create_sweep(dataset, ["mlp"], {"training.learning_rate": {"low": 1e-3, "high": 3e-2, "log": True}},
                         trials=4, parallel=2, pruner="none", name=f"sweep {i}",
                         changes={"model": {"members": 1}, "training": {"epochs": 3}}) for i in range(2)]
    workers = [start_worker() for _ in range(2)]
    try:
        wait_until(lambda: all(repo.get_sweep(s["id"])["status"] != "running" for s in made), timeout=400, every=1)
    finally:
        for worker in workers:
            stop(worker)
            worker.wait(timeout=60)
    runs = [run for sweep in made for run in repo.sweep_runs(sweep["id"])]
    for sweep in made:
        assert repo.get_sweep(sweep["id"])["status"] == "completed"
        assert sorted(run["trial_number"] for run in repo.sweep_runs(sweep["id"])) == [0, 1, 2, 3]
    assert {run["status"] for run in runs} == {"completed"} and len(runs) == 8
    assert all(sum(e["message"].startswith("Started on") for e in repo.list_events(run["id"])) == 1 for run in runs)
    assert len({run["worker_id"] for run in runs}) == 2  # both workers took trials
