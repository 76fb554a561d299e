"""Sweeps: search spaces checked before any run, trials as ordinary runs, Optuna's study beside the database, and
whole sweeps trained by real worker processes (killed and restarted in the middle of one)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import UserError
from tests.conftest import ROOT, cli, wait_until

# A real table from a public package: the HPC jobs of ../shared/data when it is there, else scikit-learn's breast
# cancer screening sample, which ships with the code.
SHARED_TABLE = ROOT.parent / "shared" / "data" / "hpc_jobs.csv"
if os.environ.get("TRAINYARD_TEST_SAMPLES_ONLY"):  # as CI, whose clone has no ../shared beside it
    SHARED_TABLE = Path("/nonexistent")


def table_dataset() -> dict:
    from engine.data.ingest import add_dataset
    from engine.data.samples import add_sample

    if SHARED_TABLE.exists():
        return add_dataset(SHARED_TABLE, name="hpc_jobs")
    return add_sample("breast_cancer")


@pytest.fixture
def dataset(home) -> dict:
    from engine.data.samples import add_sample

    return add_sample("iris")


def create(dataset: dict, params: list[str], **options) -> dict:
    from engine.cli.sweeps import read_space
    from engine.search.sweeps import create_sweep

    return create_sweep(dataset, options.pop("models", ["mlp"]), read_space(None, params), **options)


# ---------------------------------------------------------------- the search space


def test_a_param_is_a_range_or_a_list():
    from engine.search.space import parse_param

    assert parse_param("training.learning_rate=1e-4:0.1:log") == (
        "training.learning_rate", {"low": 1e-4, "high": 0.1, "log": True})
    assert parse_param("training.epochs=2:10") == ("training.epochs", {"low": 2, "high": 10, "log": False})
    assert parse_param("training.optimizer=adam,sgd") == ("training.optimizer", {"choices": ["adam", "sgd"]})
    assert parse_param("model.hidden_sizes=[64],[128,64]") == ("model.hidden_sizes", {"choices": [[64], [128, 64]]})
    with pytest.raises(UserError, match="KEY=LOW:HIGH"):
        parse_param("training.learning_rate")


@pytest.mark.parametrize("params, method, words", [
    (["training.learning_rate=0.1:0.1"], "tpe", "'training.learning_rate': the range 0.1:0.1 is empty"),
    (["training.learning_rate=0.1:0.001"], "tpe", "'training.learning_rate': the range 0.1:0.001 is inverted"),
    (["training.weight_decay=0:0.1:log"], "tpe", "'training.weight_decay': a log range cannot reach 0"),
    (["model.base_width=8,16"], "tpe", "'model.base_width' is not a setting of Multi-layer network"),
    (["training.device=cpu,cuda"], "tpe", "'training.device' cannot vary"),
    (["training.optimizer=1:3"], "tpe", "'training.optimizer' takes one of a few values"),
    (["model.dropout=0:2"], "tpe", "'model.dropout' cannot be 2.0: Input should be less than or equal to 0.9"),
    (["training.epochs=2.5:4"], "tpe", "'training.epochs' is a whole number"),
    ([f"training.{key}={','.join(str(v) for v in range(1, 12))}"
      for key in ("epochs", "batch_size", "seed")], "grid", "1,331 combinations, more than the 1,000"),
    ([], "tpe", "Choose at least one setting"),
])
@pytest.mark.slow
def test_a_bad_space_is_refused_naming_the_setting(dataset, params, method, words):
    from db import repo

    with pytest.raises(UserError) as refused:
        create(dataset, params, method=method)
    assert words in str(refused.value)
    assert repo.list_sweeps() == [] and repo.list_runs() == []  # nothing half made


def test_other_bad_sweeps_are_refused_plainly(dataset):
    with pytest.raises(UserError, match="can optimise val_accuracy, val_loss, not 'test_accuracy'"):
        create(dataset, ["model.dropout=0:0.5"], metric="test_accuracy")
    with pytest.raises(UserError, match="does not fit tabular data"):
        create(dataset, ["model.dropout=0:0.5"], models=["resnet_small"])
    with pytest.raises(UserError, match="number of trials must be between 1 and 1000"):
        create(dataset, ["model.dropout=0:0.5"], trials=0)
    with pytest.raises(UserError, match="model.members"):  # a fixed setting out of range
        create(dataset, ["model.dropout=0:0.5"], changes={"model": {"members": 0}})


@pytest.mark.slow
def test_a_budget_is_at_least_a_minute(dataset):
    from engine.search.sweeps import parse_budget

    assert parse_budget("10m") == 600 and parse_budget("90s") == 90 and parse_budget("1.5h") == 5400
    assert parse_budget("2") == 120  # a plain number is minutes
    for short in ("30s", "0.5m", "0"):
        with pytest.raises(UserError, match="at least a minute"):
            parse_budget(short)
    with pytest.raises(UserError, match="not a length of time"):
        parse_budget("soon")
    done = cli("train", "--dataset", str(dataset["id"]), "--preset", "auto", "--budget", "20s")
    assert done.returncode == 2 and "A time budget of 20s is too short" in done.stderr
    done = cli("train", "--dataset", str(dataset["id"]), "--preset", "fast")
    assert done.returncode == 2 and "There is no preset 'fast'" in done.stderr


# ---------------------------------------------------------------- trials are runs


def test_a_grid_sweep_queues_each_combination_once_as_runs_named_after_it(dataset):
    from db import repo
    from engine.search.results import sweep_document

    sweep = create(dataset, ["training.optimizer=adam,sgd", "model.dropout=0:0.4"], method="grid", trials=100,
                   parallel=20, name="grid")
    assert sweep["trials"] == 10  # 2 optimisers × 5 points of the dropout range; fewer than asked
    runs = repo.sweep_runs(sweep["id"])
    assert len(runs) == 10 and all(run["status"] == "queued" for run in runs)
    chosen = {(run["config"]["training"]["optimizer"], run["config"]["model"]["dropout"]) for run in runs}
    assert chosen == {(o, d) for o in ("adam", "sgd") for d in (0.0, 0.1, 0.2, 0.3, 0.4)}
    assert runs[0]["name"] == "grid · trial 1"
    # Each trial is the Balanced preset with the trial's values on top.
    assert all(run["config"]["preset"] == "Balanced" and run["config"]["model"]["members"] == 16 for run in runs)
    document = sweep_document(sweep["id"])
    assert document["counts"]["queued"] == 10 and document["best"] is None
    assert {json.dumps(t["params"], sort_keys=True) for t in document["trials"]} == {
        json.dumps({"training.optimizer": o, "model.dropout": d}, sort_keys=True)
        for o in ("adam", "sgd") for d in (0.0, 0.1, 0.2, 0.3, 0.4)}


def test_studies_live_apart_from_trainyards_tables(dataset, home):
    from sqlalchemy import inspect

    from db.session import get_engine, head_revision, migrate

    create(dataset, ["model.dropout=0:0.5"])
    tables = set(inspect(get_engine()).get_table_names())
    assert "sweeps" in tables and "studies" not in tables and "trials" not in tables
    assert (home / "trainyard-sweeps.db").exists()
    assert migrate() == head_revision()  # Trainyard's own migrations see only their own tables


@pytest.mark.slow
def test_cancelling_a_sweep_cancels_its_waiting_trials(dataset):
    from db import repo
    from engine.search.running import cancel_sweep

    sweep = create(dataset, ["model.dropout=0:0.5"], trials=6, parallel=3)
    assert len(repo.sweep_runs(sweep["id"])) == 3
    done = cli("sweep", "cancel", str(sweep["id"]))
    assert done.returncode == 0 and f"Sweep {sweep['id']} cancelled" in done.stdout
    assert repo.get_sweep(sweep["id"])["status"] == "cancelled"
    assert {run["status"] for run in repo.sweep_runs(sweep["id"])} == {"cancelled"}
    assert "had already ended" in cancel_sweep(sweep["id"])


@pytest.mark.slow
def test_the_command_line_creates_lists_and_shows_a_sweep(dataset, tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 1e-4, "high": 0.1, "log": True}}))
    done = cli("sweep", "create", "--dataset", dataset["name"], "--space", str(space), "--param", "model.dropout=0:0.5",
               "--trials", "4", "--parallel", "2", "--name", "lr", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["trials_planned"] == 4 and created["counts"]["queued"] == 2
    assert set(created["space"]) == {"training.learning_rate", "model.dropout"}
    shown = json.loads(cli("sweep", "show", str(created["id"]), "--json").stdout)
    assert {"status", "trials", "best", "importance"} <= set(shown)
    assert all({"run_id", "status", "value", "params"} <= set(t) for t in shown["trials"])
    listed = cli("sweep", "list").stdout
    assert "lr" in listed and dataset["name"] in listed
    bad = cli("sweep", "create", "--dataset", dataset["name"], "--param", "training.learning_rate=0:1:log")
    assert bad.returncode == 2 and "a log range cannot reach 0" in bad.stderr
    missing = cli("sweep", "show", "99")
    assert missing.returncode == 2 and "There is no sweep 99" in missing.stderr


# ---------------------------------------------------------------- whole sweeps in real workers


def start_worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", "worker", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def started_events(run_id: int) -> int:
    from db import repo

    return sum(e["message"].startswith("Started on") for e in repo.list_events(run_id))


@pytest.mark.slow
def test_a_tpe_sweep_two_at_a_time_starts_from_balanced_and_prunes(home):
    from db import repo
    from engine.search.results import sweep_document

    dataset = table_dataset()
    # Balanced with an ensemble of 2 networks instead of 16 and 20 epochs, for the reference run and every
    # trial alike: the same search at a small share of the work.
    balanced = json.loads(cli("train", "--dataset", str(dataset["id"]), "--set", "model.members=2",
                              "--set", "training.epochs=20", "--wait", "--json").stdout)
    # Down to 1e-5, where a network learns too slowly: the pruner has poor trials to stop on any of the two tables.
    # Judged by the validation loss, which has no ties on a small validation split, as accuracies of 85 rows do.
    sweep = create(dataset, ["training.learning_rate=0.00001:0.01:log", "model.dropout=0:0.4"], models=["mlp"],
                   trials=12, parallel=2, name="tpe", metric="val_loss",
                   changes={"model": {"members": 2}, "training": {"epochs": 20}})
    worker = start_worker("--slots", "2")
    try:
        wait_until(lambda: repo.get_sweep(sweep["id"])["status"] == "completed", timeout=900, every=1)
    finally:
        stop(worker)
    document = sweep_document(sweep["id"])
    runs = repo.sweep_runs(sweep["id"])
    assert len(runs) == 12 and sorted(run["trial_number"] for run in runs) == list(range(12))
    assert all(started_events(run["id"]) == 1 for run in runs)  # no trial ran twice
    assert document["counts"]["pruned"] >= 1
    assert document["counts"]["completed"] + document["counts"]["pruned"] == 12
    # The first trial is the Balanced preset's own settings; the best trial is at least as good on the validation
    # rows the sweep optimises, and on the test rows within what they can tell apart (two standard errors).
    first, best = document["trials"][0], document["best"]
    assert first["params"] == {"training.learning_rate": 1e-3, "model.dropout": 0.2}
    assert best["value"] <= first["value"]
    ours, theirs = best["test"]["test_accuracy"], balanced["summary"]["test_accuracy"]
    assert ours >= theirs - 2 * math.sqrt(theirs * (1 - theirs) / round(dataset["n_rows"] * 0.15))
    assert document["importance"] and document["outcome"].startswith(f"The best trial is run {best['run_id']}")


@pytest.mark.slow
def test_a_sweep_survives_its_worker_being_killed(dataset):
    from db import repo

    sweep = create(dataset, ["training.learning_rate=0.001:0.03:log"], trials=5, parallel=1, pruner="none",
                   changes={"model": {"members": 1}, "training": {"epochs": 30}})
    first = start_worker()
    try:
        wait_until(lambda: any(r["status"] == "completed" for r in repo.sweep_runs(sweep["id"])), timeout=300)
        wait_until(lambda: any(r["status"] == "running" and repo.metric_summaries(r["id"]).get("val_loss")
                               for r in repo.sweep_runs(sweep["id"])), timeout=300, every=0.1)
    finally:
        first.kill()  # no goodbye: its running trial is interrupted
        first.wait()
    wait_until(lambda: any(r["status"] == "interrupted" for r in repo.sweep_runs(sweep["id"])), timeout=60)
    second = start_worker()
    try:
        wait_until(lambda: repo.get_sweep(sweep["id"])["status"] == "completed", timeout=600, every=1)
    finally:
        stop(second)
    runs = repo.sweep_runs(sweep["id"])
    assert sorted(run["trial_number"] for run in runs) == list(range(5))
    assert {run["status"] for run in runs} == {"completed"}
    resumed = [run for run in runs if started_events(run["id"]) == 2]
    assert len(resumed) == 1 and all(started_events(run["id"]) == 1 for run in runs if run not in resumed)


def test_auto_keeps_balanced_unless_the_best_trial_is_clearly_ahead(dataset):
    from engine.search.results import recommended_trial

    sweep = {"auto": True, "direction": "maximize", "metric": "val_accuracy", "dataset_id": dataset["id"],
             "changes": {}}

    def trial(number: int, value: float) -> dict:
        return {"number": number, "status": "completed", "value": value, "run_id": number + 1}

    # 150 iris flowers keep 22 for validation: one standard error of 90 % is 6.4 points.
    balanced, close, far = trial(0, 0.90), trial(1, 0.93), trial(2, 0.99)
    assert recommended_trial(sweep, [balanced, close]) is balanced
    assert recommended_trial(sweep, [balanced, close, far]) is far
    assert recommended_trial(sweep | {"auto": False}, [balanced, close]) is close  # a sweep of one's own: its best
