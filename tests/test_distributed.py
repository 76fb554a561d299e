"""Runs on several processes and machines, with torch.distributed (gloo on this CPU) and real workers.

The same seeded run on one process and on two (the same examples per step) must end where it would on one;
a killed worker's run resumes; a process that crashes ends the run with its error; two workers on one
PostgreSQL database train one run as two machines; what cannot start is refused before it is queued.
"""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from db import repo
from db.session import run_folder
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from engine.errors import UserError
from engine.jobs.launch import check_launch
from tests.conftest import ROOT, cli, make_table, start_worker, status, stop, wait_for_status, wait_until

pytestmark = pytest.mark.slow

# Two processes add up the same gradients in another order, so the figures may differ in the last digits.
SAME_LOSS = 1e-4


@pytest.fixture
def table(home, tmp_path):
    path = tmp_path / "table.csv"
    make_table(rows=600).to_csv(path, index=False)
    return add_dataset(path, name="table")


def queue(dataset, **training) -> dict:
    # No dropout and no batch normalisation: both draw or measure per process, which the comparison must not.
    config = RunConfig.model_validate({
        "model": {"name": "mlp", "dropout": 0.0, "batch_norm": False},
        "training": {"epochs": 4, "batch_size": 32, "log_every": 2, "lr_scaling": "constant", **training},
    })
    check_launch(config)
    return repo.create_run(dataset["id"], "mlp", config.model_dump())


def test_one_and_two_processes_end_with_the_same_validation_loss(table):
    one = queue(table)
    two = queue(table, processes=2, batch_size=16)  # two processes × 16 = the one process's 32 per step
    split = queue(table, processes=2, batch_size=16, strategy="fsdp")
    worker = start_worker("--once")
    try:
        worker.wait(timeout=400)
    finally:
        stop(worker)
    for run in (one, two, split):
        done = repo.get_run(run["id"])
        assert done["status"] == "completed", done["error"]
    loss = {run["id"]: repo.run_summary(run["id"])["val_loss"] for run in (one, two, split)}
    assert abs(loss[two["id"]] - loss[one["id"]]) <= SAME_LOSS * loss[one["id"]], loss
    assert abs(loss[split["id"]] - loss[one["id"]]) <= SAME_LOSS * loss[one["id"]], loss
    # Rank 0 alone writes the curves: each point once, as many as the one-process run's.
    for key in ("train_loss", "val_loss"):
        steps = [point["step"] for point in repo.metric_history(one["id"], key)]
        for run in (two, split):
            shared = [point["step"] for point in repo.metric_history(run["id"], key)]
            assert shared == steps, (key, shared, steps)
    done = repo.get_run(two["id"])
    assert done["environment"]["processes"] == 2 and done["device"] == "cpu × 2"
    messages = [event["message"] for event in repo.list_events(two["id"])]
    assert "2 processes × 16 = 32 examples per step; learning rate 0.001, not scaled." in messages


def test_a_killed_worker_of_a_two_process_run_resumes_it(table):
    run = queue(table, processes=2, batch_size=8, epochs=12)
    first = start_worker()
    try:
        wait_until(lambda: len(repo.metric_history(run["id"], "val_loss")) >= 2, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        wait_for_status(run["id"], "interrupted", timeout=60)
    finally:
        stop(first)
    # The dying worker's parent-death signal reaches the launcher once per thread of the worker: it stops its
    # processes once, with SIGINT, and does not follow it with a SIGTERM (which they would read as a cancel).
    log = (run_folder(run["id"]) / "output.log").read_text()
    assert "closing signal SIGINT" in log and "closing signal SIGTERM" not in log, log[-3000:]
    second = start_worker()
    try:
        wait_for_status(run["id"], "completed", "failed", timeout=300)
    finally:
        stop(second)
    done = repo.get_run(run["id"])
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    epochs = [point["epoch"] for point in repo.metric_history(run["id"], "val_loss")]
    assert epochs == [float(epoch) for epoch in range(1, 13)]  # the curves continue, no gaps, no duplicates
    steps = [point["step"] for point in repo.metric_history(run["id"], "train_loss")]
    assert steps == sorted(set(steps))
    messages = [event["message"] for event in repo.list_events(run["id"])]
    assert any(message.startswith("Resumed from the checkpoint") for message in messages)


def test_a_stop_signal_keeps_the_reason_of_the_first():
    from engine.jobs.process import StopSignals, ask_for_signal_on_parent_death

    before = {each: signal.getsignal(each) for each in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    try:
        stop = StopSignals()
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)  # from the live parent: alone, a cancel
        assert stop() == "interrupted"
        stop = StopSignals()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop() == "cancelled"
    finally:
        for each, handler in before.items():
            signal.signal(each, handler)
        ask_for_signal_on_parent_death(0)  # StopSignals asked for one; this test process does not want it


def test_a_crashed_process_ends_the_run_with_its_error(table):
    run = queue(table, processes=2, batch_size=8, epochs=200)
    worker = start_worker()
    try:
        wait_until(lambda: len(repo.metric_history(run["id"], "val_loss")) >= 1, timeout=120)
        launcher = psutil.Process(repo.get_run(run["id"])["pid"])
        processes = launcher.children()
        assert len(processes) == 2
        processes[-1].kill()
        wait_for_status(run["id"], "failed", timeout=60)  # not a hang: the launcher stops the rest
    finally:
        stop(worker)
    error = repo.get_run(run["id"])["error"]
    assert "process" in error and "of 2" in error and "SIGKILL" in error, error
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE for process in processes)


def test_two_workers_train_one_run_as_two_machines(pg_home, tmp_path):
    path = tmp_path / "table.csv"
    make_table(rows=600).to_csv(path, index=False)
    dataset = add_dataset(path, name="table")
    run = queue(dataset, machines=2, epochs=3)
    workers = [start_worker(env={"TRAINYARD_ADDRESS": "127.0.0.1"}) for _ in range(2)]
    try:
        wait_for_status(run["id"], "completed", "failed", timeout=300)
    finally:
        for worker in workers:
            stop(worker)
    done = repo.get_run(run["id"])
    assert done["status"] == "completed", done["error"]
    assert done["environment"]["processes"] == 2
    messages = [event["message"] for event in repo.list_events(run["id"])]
    assert any(message.startswith("Machine 2 of 2 joined") for message in messages), messages
    steps = [point["step"] for point in repo.metric_history(run["id"], "train_loss")]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize("training, words", [
    ({"machines": 2}, "needs a database they all share (PostgreSQL)"),
    ({"processes": 64, "device": "cpu"}, "cores and each process needs one of its own"),
    ({"processes": 2, "device": "cuda:1"}, "cannot ask for one given GPU"),
    ({"processes": 2, "device": "cuda"}, "one GPU each, but the largest machine has 0"),
])
def test_what_cannot_start_is_refused_before_it_is_queued(table, training, words):
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
        queue(table, **training)
    args = [f"--set=training.{key}={value}" for key, value in training.items()]
    result = cli("train", "--dataset", str(table["id"]), *args)
    assert result.returncode != 0 and words in result.stderr, result.stderr
    assert repo.list_runs(with_metrics=False) == []


def test_a_worker_with_gpus_bounds_the_processes_per_machine(table):
    repo.register_worker("gpu-box", 1, 2, ["cuda:0", "cuda:1"])
    queue(table, processes=2, device="cuda")  # fits: that machine has 2 GPUs
    with pytest.raises(UserError, match="the largest machine has 2"):
        queue(table, processes=4, device="cuda")


@pytest.mark.parametrize("changes, words", [
    ({"split": {"folds": 3}}, "cross-validation trains on one process"),
    ({"model": {"name": "minilm", "train_part": "head"}}, "minutes at most on one process"),
    ({"model": {"name": "minilm", "train_part": "pairs"}}, "minutes at most on one process"),
    ({"training": {"processes": 2, "strategy": "fsdp", "average_epochs": 2}}, "averaging the recent weights"),
])
def test_settings_that_train_on_one_process_are_refused_with_several(changes, words):
    from engine.config import validate_run_config

    with pytest.raises(UserError, match=words):
        validate_run_config({"training": {"processes": 2}, **changes})


def test_a_run_left_to_a_clusters_scheduler_trains_with_the_printed_torchrun_command(table):
    result = cli("train", "--dataset", str(table["id"]), "--set", "training.processes=2",
                 "--set", "training.launcher=torchrun", "--set", "training.epochs=2", "--json")
    assert result.returncode == 0, result.stderr
    import json

    document = json.loads(result.stdout)
    command = document["torchrun"]
    assert command == f"torchrun --standalone --nproc-per-node=2 -m engine.jobs.runner --rank {document['id']}"
    subprocess.run([sys.executable, "-m", "engine", "worker", "--once"], cwd=ROOT, check=True, timeout=120,
                   capture_output=True)
    assert status(document["id"]) == "queued"  # the workers leave it alone
    torchrun = [sys.executable, "-m", "torch.distributed.run", *command.split()[1:]]
    finished = subprocess.run(torchrun, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    done = repo.get_run(document["id"])
    assert done["status"] == "completed", done["error"]
    assert any(event["message"].startswith("Started by torchrun") for event in repo.list_events(done["id"]))
    again = subprocess.run(torchrun, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "is completed, not waiting to be trained" in again.stderr


def test_the_estimate_shares_each_epoch_between_the_processes(table):
    from engine.estimates import estimate_run

    one = estimate_run(RunConfig.model_validate({"training": {"batch_size": 32, "epochs": 10}}), table)
    two = estimate_run(RunConfig.model_validate({"training": {"batch_size": 32, "epochs": 10, "processes": 2}}), table)
    assert two.steps == 10 * -(-one.n_train // 64) and one.steps == 10 * -(-one.n_train // 32)


def test_one_run_gathers_its_machines_at_a_time_and_a_late_try_changes_nothing(pg_home, tmp_path):
    from engine.jobs.worker import Worker

    path = tmp_path / "table.csv"
    make_table(rows=100).to_csv(path, index=False)
    dataset = add_dataset(path, name="table")
    first, second = queue(dataset, machines=2), queue(dataset, machines=2)
    worker = Worker()
    worker.worker_id = repo.register_worker("one", 1, 1, ["cpu"])
    claimed = repo.claim_next_run(worker.worker_id, "one", accept=worker._can_claim)
    assert claimed["id"] == first["id"]
    repo.open_shared_run(first["id"], claimed["attempts"], worker.worker_id, "one", "cpu")
    assert repo.gathering_shared_runs() == [first["id"]]
    # While the first gathers its machines, the second is not taken: the free workers join the first.
    assert repo.claim_next_run(worker.worker_id, "one", accept=worker._can_claim) is None
    assert status(second["id"]) == "queued"
    assert repo.join_shared_run(worker.worker_id, "one") is None  # no meeting point yet, and not twice
    repo.set_shared_run_endpoint(first["id"], claimed["attempts"], "127.0.0.1:1")
    other = repo.register_worker("two", 2, 1, ["cpu"])
    assert repo.join_shared_run(other, "two", accept=lambda run, devices: devices == "cuda") is None
    run, machine = repo.join_shared_run(other, "two", accept=lambda run, devices: devices == "cpu")
    assert (run["id"], machine) == (first["id"], 1) and repo.gathering_shared_runs() == []
    assert repo.shared_run_hosts([first["id"], second["id"]]) == {first["id"]: ["one", "two"]}  # the Queue page
    # A process of an earlier try of the run that ends late changes nothing.
    assert not repo.finish_run(first["id"], "failed", "late", attempt=claimed["attempts"] - 1)
    assert status(first["id"]) == "running"
