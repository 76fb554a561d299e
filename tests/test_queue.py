"""Concurrency, device requests, queue actions, the Queue page, and the database under load."""

import json
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from db import repo
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from engine.jobs.queue import log_tail, queue_again, run_folder
from tests.conftest import APP, ROOT, make_table, wait_until
from tests.conftest import start_worker, status, stop, wait_for_status



@pytest.fixture
def dataset(home, tmp_path):
    path = tmp_path / "t.csv"
    make_table(rows=1500).to_csv(path, index=False)
    return add_dataset(path, name="t")


def queue(dataset, epochs=2, device="auto"):
    config = RunConfig.model_validate({"training": {"epochs": epochs, "batch_size": 16, "device": device}})
    return repo.create_run(dataset["id"], "mlp", config.model_dump())


@pytest.mark.slow
def test_two_slots_train_two_runs_at_once_with_threads_split(dataset):
    first, second = queue(dataset, epochs=40), queue(dataset, epochs=40)
    worker = start_worker("--slots", "2")
    try:
        wait_until(lambda: status(first["id"]) == "running" and status(second["id"]) == "running", timeout=60)
        wait_until(lambda: repo.get_run(first["id"])["environment"], timeout=60)
        assert repo.get_run(first["id"])["environment"]["threads"] == 1  # 2 cores shared by 2 runs
        repo.request_cancel(first["id"])
        repo.request_cancel(second["id"])
        wait_until(lambda: {status(first["id"]), status(second["id"])} == {"cancelled"}, timeout=60)
    finally:
        stop(worker)


@pytest.mark.slow
def test_a_run_asking_for_a_gpu_waits_while_others_train(dataset):
    wants_gpu = queue(dataset, device="cuda:0")
    behind = queue(dataset, epochs=1)
    worker = start_worker()
    try:
        wait_for_status(behind["id"], "completed", timeout=120)
        assert status(wants_gpu["id"]) == "queued"
        assert repo.queue_positions() == {wants_gpu["id"]: 1}
    finally:
        stop(worker)


def test_queue_again_resumes_interrupted_and_restarts_failed(dataset):
    run = queue(dataset)
    worker_id = repo.register_worker("h", 1, 1, ["cpu"])
    repo.claim_next_run(worker_id, "h")
    repo.log_metrics(run["id"], [("val_loss", 10, 0.5, 1.0, 1.0)])
    repo.finish_run(run["id"], "interrupted", "lost")
    folder = run_folder(run["id"])
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"x")
    assert "resume" in queue_again(run["id"])
    assert status(run["id"]) == "queued" and repo.metric_history(run["id"])  # history kept to continue

    repo.claim_next_run(worker_id, "h")
    repo.finish_run(run["id"], "failed", "boom")
    assert "from the start" in queue_again(run["id"])
    assert status(run["id"]) == "queued" and repo.metric_history(run["id"]) == []
    assert not (folder / "checkpoint.pt").exists()
    assert "already waiting" in queue_again(run["id"])


def test_runs_can_be_listed_without_their_metrics(dataset):
    run = queue(dataset)
    repo.log_metrics(run["id"], [("val_loss", 1, 0.5, 1.0, 0.0)])
    assert repo.list_runs()[0]["metrics"]["val_loss"]["last"] == 0.5
    light = repo.list_runs(with_metrics=False)[0]
    assert light["id"] == run["id"] and "metrics" not in light


def test_log_tail_gives_the_latest_lines(home):
    folder = run_folder(5)
    folder.mkdir(parents=True)
    (folder / "output.log").write_text("\n".join(f"line {i}" for i in range(100)))
    assert log_tail(5, lines=3) == "line 97\nline 98\nline 99"
    assert log_tail(6) == ""


def test_queue_page_shows_runs_and_acts_on_them(dataset):
    worker_id = repo.register_worker("gpu-box", 1, 1, ["cpu"])
    failed = queue(dataset)
    repo.claim_next_run(worker_id, "gpu-box")
    repo.finish_run(failed["id"], "failed", "boom")
    running = queue(dataset)
    repo.claim_next_run(worker_id, "gpu-box")
    repo.update_progress(running["id"], 0.5, 30)
    waiting = queue(dataset)

    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("views/queue.py").run()
    assert not at.exception, at.exception
    active = at.dataframe[0].value
    assert list(active["Run"]) == [running["id"], waiting["id"]]
    assert list(active["Place in queue"]) == ["training", "1"]
    assert active.iloc[1]["Device"] == "any free one"
    assert active.iloc[0]["Machine"] == "gpu-box"
    assert list(at.dataframe[1].value["Run"]) == [failed["id"]]

    at.selectbox(key="queue-run").set_value(failed["id"]).run()
    at.button(key="queue-again").click().run()
    assert not at.exception
    assert status(failed["id"]) == "queued"
    at.selectbox(key="queue-run").set_value(waiting["id"]).run()
    at.button(key="queue-cancel").click().run()
    assert status(waiting["id"]) == "cancelled"


@pytest.mark.slow
def test_four_writers_and_a_polling_dashboard_never_lock(home):
    result = subprocess.run([sys.executable, "bench/queue_load.py", "--seconds", "8", "--writers", "4", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["locked_errors"] == 0
    assert figures["lost_points"] == 0 and figures["points_written"] > 100
    assert figures["dashboard_queries"] >= 8 * 2 * 6 * 0.5
