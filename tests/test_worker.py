"""The worker in real processes: it trains, cancels, survives crashes and resumes interrupted runs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import repo
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from tests.conftest import (
    ROOT,
    make_table,
    open_page,
    start_worker,
    status,
    stop,
    wait_for_status,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def dataset(home, tmp_path):
    path = tmp_path / "big.csv"
    make_table(rows=1500).to_csv(path, index=False)
    return add_dataset(path, name="big")


def queue(dataset, epochs: int, batch_size: int = 16) -> dict:
    config = RunConfig.model_validate({"training": {"epochs": epochs, "batch_size": batch_size, "log_every": 5}})
    return repo.create_run(dataset["id"], "mlp", config.model_dump())


def epochs_logged(run_id: int) -> int:
    return len(repo.metric_history(run_id, "val_loss"))


def test_worker_trains_a_run_to_completion(dataset, home):
    run = queue(dataset, epochs=3)
    worker = start_worker("--once")
    try:
        assert worker.wait(timeout=180) == 0
    finally:
        stop(worker)
    done = repo.get_run(run["id"])
    assert done["status"] == "completed", done["error"]
    assert done["pid"] and done["worker_host"] and done["device"] == "cpu"
    assert done["environment"]["dataset_sha256"] == dataset["sha256"]
    assert 0 <= done["environment"]["start_wait_seconds"] < 60  # its process's start, which estimates leave out
    assert done["progress"] == 1.0
    summary = repo.run_summary(run["id"])
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["epochs_completed"] == 3
    train_points = repo.metric_history(run["id"], "train_loss")
    assert len(train_points) >= 3 * 1500 * 0.7 / 16 / 5 - 3  # logged every 5 steps
    import torch

    checkpoint = torch.load(home / "runs" / str(run["id"]) / "model.pt", weights_only=True)
    assert checkpoint["preprocessing"]["classes"] == ["class_0", "class_1"]
    assert "model" in [a["kind"] for a in repo.list_artifacts(run["id"])]


def test_cancel_running_and_queued_runs(dataset):
    long_run = queue(dataset, epochs=500)
    waiting = queue(dataset, epochs=2)
    worker = start_worker()
    try:
        wait_until(lambda: epochs_logged(long_run["id"]) >= 1, timeout=120)
        assert repo.request_cancel(waiting["id"]) == "cancelled"
        assert repo.request_cancel(long_run["id"]) == "requested"
        wait_for_status(long_run["id"], "cancelled", timeout=30)
        assert status(waiting["id"]) == "cancelled"
        # The worker keeps serving after a cancel.
        after = queue(dataset, epochs=1)
        wait_for_status(after["id"], "completed", timeout=120)
    finally:
        stop(worker)


def test_killed_child_fails_the_run_and_the_worker_goes_on(dataset):
    run = queue(dataset, epochs=500)
    worker = start_worker()
    try:
        wait_until(lambda: epochs_logged(run["id"]) >= 1, timeout=120)
        os.kill(repo.get_run(run["id"])["pid"], signal.SIGKILL)
        wait_for_status(run["id"], "failed", timeout=30)
        assert "SIGKILL" in repo.get_run(run["id"])["error"]
        after = queue(dataset, epochs=1)
        wait_for_status(after["id"], "completed", timeout=120)
    finally:
        stop(worker)


def test_killed_worker_interrupts_the_run_and_a_new_worker_resumes_it(dataset):
    run = queue(dataset, epochs=12)
    first = start_worker()
    try:
        wait_until(lambda: epochs_logged(run["id"]) >= 2, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        wait_for_status(run["id"], "interrupted", timeout=30)
        interrupted_after = time.monotonic() - killed_at
    finally:
        stop(first)
    second = start_worker()
    try:
        wait_for_status(run["id"], "completed", "failed", timeout=240)
    finally:
        stop(second)
    done = repo.get_run(run["id"])
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    assert interrupted_after < 15
    # Curves continue: one point per epoch, no gaps, no duplicates.
    epochs = [p["epoch"] for p in repo.metric_history(run["id"], "val_loss")]
    assert epochs == [float(e) for e in range(1, 13)]
    steps = [p["step"] for p in repo.metric_history(run["id"], "train_loss")]
    assert steps == sorted(set(steps))
    messages = [e["message"] for e in repo.list_events(run["id"])]
    assert any(m.startswith("Interrupted") for m in messages)
    assert any(m.startswith("Resumed from the checkpoint") for m in messages)


def test_stale_runs_are_marked_interrupted(dataset):
    run = queue(dataset, epochs=1)
    worker_id = repo.register_worker("elsewhere", 1, 1, ["cpu"])
    assert repo.claim_next_run(worker_id, "elsewhere")["id"] == run["id"]
    assert repo.claim_next_run(worker_id, "elsewhere") is None  # claims are exclusive
    # No heartbeat comes (the worker 'elsewhere' is not running): the run is stale once a second has passed.
    wait_until(lambda: repo.mark_stale_runs_interrupted(max_age_seconds=1) == [run["id"]], timeout=10)
    assert status(run["id"]) == "interrupted"


def test_a_run_that_keeps_its_best_epoch_says_so_in_its_history(home, tmp_path):
    # Labels drawn at random: the network memorises the training rows and the validation loss rises.
    path = tmp_path / "noise.csv"
    table = make_table(rows=200)
    table["label"] = table["label"].sample(frac=1, random_state=0).to_numpy()
    table.to_csv(path, index=False)
    noise = add_dataset(path, name="noise")
    config = RunConfig.model_validate({"training": {"epochs": 8, "batch_size": 16, "learning_rate": 3e-2,
                                                    "keep_best": True}})
    run = repo.create_run(noise["id"], "mlp", config.model_dump())
    child = subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run["id"])], cwd=ROOT,
                           capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert child.returncode == 0, child.stderr
    losses = [p["value"] for p in repo.metric_history(run["id"], "val_loss")]
    best = losses.index(min(losses)) + 1
    assert best < 8
    messages = [e["message"] for e in repo.list_events(run["id"])]
    assert f"Kept the weights of epoch {best} of 8, the one with the best validation loss ({min(losses):.4g})" \
        in messages
    page = open_page("run", run=run["id"])
    tiles = {tile.label: tile.value for tile in page.metric}
    assert tiles["Epochs"] == "8" and tiles["Weights from epoch"] == str(best)


def spares_of(worker: subprocess.Popen) -> list[int]:
    """Give back the pids of the worker's waiting run processes (a child may end while it is looked at)."""
    import psutil

    spares = []
    for child in psutil.Process(worker.pid).children():
        try:
            if "--spare" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                spares.append(child.pid)
        except psutil.Error:
            pass
    return spares


def test_a_run_starts_in_the_process_the_worker_started_ahead(dataset):
    import psutil

    worker = start_worker()
    try:
        wait_until(lambda: spares_of(worker), timeout=60)
        spare = spares_of(worker)[0]
        time.sleep(8)  # let it finish importing, as it has long before a user presses Train
        run = queue(dataset, epochs=1)
        wait_until(lambda: status(run["id"]) not in ("queued", "running"), timeout=120)
        done = repo.get_run(run["id"])
        assert done["status"] == "completed", done["error"]
        assert done["pid"] == spare
        log = (Path(os.environ["TRAINYARD_HOME"]) / "runs" / str(run["id"]) / "output.log").read_text()
        assert f"Run {run['id']}: finished after 1 epochs" in log
        wait_until(lambda: [pid for pid in spares_of(worker) if pid != spare], timeout=60)  # the next one
        waiting = spares_of(worker)
    finally:
        worker.kill()
        worker.wait()
    # The worker died without a word: its waiting spare sees standard input close and leaves too.
    wait_until(lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                               for pid in waiting), timeout=30)


def no_new_spare_for(worker: subprocess.Popen, run: dict, seconds: float, besides: tuple[int, ...] = ()) -> None:
    """Check that the worker starts no spare (other than those besides) for seconds after run began, then that it starts
    one while the run goes on; cancel the run."""
    wait_until(lambda: status(run["id"]) == "running", timeout=60)
    seen = time.monotonic()
    while time.monotonic() - seen < seconds:
        assert [pid for pid in spares_of(worker) if pid not in besides] == []
        time.sleep(0.2)
    wait_until(lambda: [pid for pid in spares_of(worker) if pid not in besides], timeout=30)
    assert status(run["id"]) == "running"  # the next spare started while the run went on
    repo.request_cancel(run["id"])
    wait_for_status(run["id"], "cancelled", timeout=30)


def test_the_next_spare_waits_for_the_runs_first_seconds(dataset):
    """A spare's start takes seconds of a core: it would slow a run that has just begun (a short one threefold)."""
    from engine.jobs.worker import SPARE_AFTER_SECONDS

    worker = start_worker()
    try:
        wait_until(lambda: spares_of(worker), timeout=60)
        spare = spares_of(worker)[0]
        time.sleep(8)  # as before a user presses Train
        no_new_spare_for(worker, queue(dataset, epochs=500), SPARE_AFTER_SECONDS - 2, besides=(spare,))
    finally:
        stop(worker)


def test_a_run_whose_process_is_still_starting_gets_its_first_seconds_too(dataset):
    """A run claimed before any process was ready starts one of its own (about 4 s): the next spare waits for that,
    then for the run's first seconds."""
    from engine.jobs.worker import SPARE_AFTER_SECONDS, SPARE_READY_SECONDS

    run = queue(dataset, epochs=500)
    worker = start_worker()
    try:
        no_new_spare_for(worker, run, SPARE_READY_SECONDS + SPARE_AFTER_SECONDS - 2)
    finally:
        stop(worker)
