"""The Sweeps page, Auto on the New run page, and the sweep of a trial on the Runs, Queue and Run pages (AppTest)."""

import os
import subprocess
import sys

import pytest

from db import repo
from engine.data.ingest import add_dataset
from engine.search import results, running, sweeps
from tests.conftest import ROOT, make_table, open_page, page_texts, use_home

SMALL = {"training": {"epochs": 2, "batch_size": 32}, "model": {"hidden_sizes": [16], "members": 1}}
SPACE = {"training.learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
         "training.optimizer": {"choices": ["adam", "sgd"]}}


def add_table(folder, name="shop") -> dict:
    path = folder / f"{name}.csv"
    make_table(rows=120).to_csv(path, index=False)
    return add_dataset(path, name=name)


def train(run_id: int) -> None:
    """Train one trial with the real runner in its own process, as a worker would."""
    result = subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run_id)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "TRAINYARD_THREADS": "1"})
    assert repo.get_run(run_id)["status"] == "completed", result.stderr[-2000:]


@pytest.fixture
def shop(home, tmp_path) -> dict:
    return add_table(tmp_path)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A home with one finished sweep of three trained trials, shared by the tests that only read it."""
    with pytest.MonkeyPatch.context() as patch:
        folder = use_home(patch, tmp_path_factory.mktemp("finished"))
        dataset = add_table(folder)
        sweep = sweeps.create_sweep(dataset, ["mlp"], SPACE, trials=3, parallel=3, changes=SMALL, pruner="none",
                                    name="lr search")
        for run in repo.sweep_runs(sweep["id"]):
            train(run["id"])
        running.top_up(sweep["id"])
        assert repo.get_sweep(sweep["id"])["status"] == "completed"
        yield results.sweep_document(sweep["id"])


def shown(at):
    """Give back at after failing on an exception, shown raw or as the page guard's plain apology."""
    assert not at.exception, at.exception
    assert not any("Something went wrong" in e.value for e in at.error), "see logs/dashboard.log in the home"
    return at


def opened(page: str, **query):
    return shown(open_page(page, **query))


def charts(at) -> list:
    return [e for e in at.main if getattr(e, "type", "") == "plotly_chart"] or at.get("plotly_chart")


# ---------------------------------------------------------------- starting a sweep


@pytest.mark.slow
def test_sweeps_page_starts_a_sweep_and_shows_it(shop):
    at = opened("sweeps")
    assert "No sweeps yet" in page_texts(at)
    assert at.multiselect(key="sweep-models-tabular").value == ["mlp"]
    assert at.multiselect(key="sweep-settings-tabular").value == [
        "training.learning_rate", "model.dropout", "training.weight_decay"]
    assert at.number_input(key="sweep-space.training.learning_rate.low").value == pytest.approx(1e-4)
    at.number_input(key="sweep-trials").set_value(4)
    at.text_input(key="sweep-name").input("lr search")
    shown(at.button(key="start-sweep").click().run())
    [sweep] = repo.list_sweeps()
    assert sweep["name"] == "lr search" and sweep["trials"] == 4 and sweep["metric"] == "val_accuracy"
    assert sweep["space"]["training.learning_rate"] == {"low": 1e-4, "high": 0.1, "log": True}
    assert "lr search" in at.title[0].value
    assert any(m.label == "Waiting" and m.value == "1" for m in at.metric)
    assert list(at.dataframe[0].value["Status"]) == ["Waiting"]


def test_an_inverted_range_gets_a_plain_message_and_keeps_the_form(shop):
    at = opened("sweeps")
    at.number_input(key="sweep-space.training.learning_rate.low").set_value(0.1)
    at.number_input(key="sweep-space.training.learning_rate.high").set_value(0.0001)
    shown(at.button(key="start-sweep").click().run())
    assert any("'Learning rate'" in e.value and "inverted" in e.value for e in at.error), [e.value for e in at.error]
    assert repo.list_sweeps() == []
    assert at.number_input(key="sweep-space.training.learning_rate.low").value == pytest.approx(0.1)


def test_an_unreadable_list_of_layer_widths_is_refused(shop):
    at = opened("sweeps")
    at.multiselect(key="sweep-settings-tabular").select("model.hidden_sizes").run()
    at.text_input(key="sweep-space.model.hidden_sizes").input("[128, 64], [256").run()
    assert any("Layer widths" in e.value and "square brackets" in e.value for e in at.error)
    shown(at.button(key="start-sweep").click().run())
    assert repo.list_sweeps() == []


def test_auto_under_a_minute_is_refused(shop):
    at = opened("sweeps")
    at.number_input(key="start-auto-minutes").set_value(0.5)
    shown(at.button(key="start-auto").click().run())
    assert any("too short" in e.value for e in at.error), [e.value for e in at.error]
    assert repo.list_sweeps() == []


@pytest.mark.slow
def test_new_run_page_offers_auto_and_starts_it(shop):
    at = opened("new_run", dataset=shop["id"])
    shown(at.button_group(key="preset").set_value("Auto").run())
    assert "for 10 minutes and keeps the best. Its first trial is the Balanced preset" in page_texts(at)
    assert not any(b.key == "train" for b in at.button)  # the preset's own Train button is gone
    at.number_input(key="train-auto-minutes").set_value(3)
    shown(at.button(key="train-auto").click().run())
    [sweep] = repo.list_sweeps()
    assert sweep["auto"] and sweep["budget_seconds"] == 180 and sweep["models"] == ["mlp"]
    assert "Auto" in at.title[0].value  # the new sweep's own page


# ---------------------------------------------------------------- following a sweep


@pytest.mark.slow
def test_cancel_cancels_the_waiting_trials(shop):
    sweep = sweeps.create_sweep(shop, ["mlp"], SPACE, trials=5, parallel=2, name="to stop")
    at = opened("sweeps", sweep=sweep["id"])
    assert "to stop" in at.title[0].value and len(at.dataframe[0].value) == 2
    assert f"?sweep={sweep['id']}" in at.code[0].value  # the link to share
    shown(at.button(key="cancel-sweep").click().run())
    assert {run["status"] for run in repo.sweep_runs(sweep["id"])} == {"cancelled"}
    assert repo.get_sweep(sweep["id"])["status"] == "cancelled"
    assert f"Sweep {sweep['id']} cancelled" in page_texts(at)
    assert not any(b.key == "cancel-sweep" for b in at.button)


def test_an_unknown_sweep_says_so_and_lists_the_others(shop):
    at = opened("sweeps", sweep=99)
    assert "There is no sweep 99" in page_texts(at)


@pytest.mark.slow
def test_a_finished_sweep_shows_its_trials_figures_and_outcome(finished):
    at = opened("sweeps", sweep=finished["id"])
    assert "lr search" in at.title[0].value
    assert finished["outcome"] in page_texts(at)
    assert len(charts(at)) == (3 if finished["importance"] else 2)
    table = at.dataframe[0].value
    best = finished["best"]
    assert len(table) == 3 and table.iloc[0]["Run"] == f"run?run={best['run_id']}"
    assert list(table["Status"]) == ["Finished"] * 3
    assert set(table["Optimizer"]) <= {"adam", "sgd"}
    assert any(m.label == "Finished" and m.value == "3" for m in at.metric)


@pytest.mark.slow
def test_the_sweeps_list_shows_each_sweep(finished):
    at = opened("sweeps")
    row = at.dataframe[0].value.iloc[0]
    assert (row["Name"], row["Status"], row["Trials"]) == ("lr search", "Finished", "3 of 3")
    assert row["Best result"].startswith("Validation accuracy ")


@pytest.mark.slow
def test_train_with_the_best_settings_queues_its_config(finished):
    at = opened("sweeps", sweep=finished["id"])
    shown(at.button(key="train-best").click().run())
    run = repo.list_runs(limit=1)[0]
    best = repo.get_run(finished["best"]["run_id"])
    assert run["status"] == "queued" and run["sweep_id"] is None and run["name"] == "Best settings of lr search"
    assert run["config"] == best["config"] and run["model"] == best["model"]
    assert at.title[0].value.startswith(f"Run {run['id']}")  # the new run's own page
    repo.request_cancel(run["id"])  # leave the shared sweep's home as it was found


@pytest.mark.slow
def test_runs_queue_and_run_pages_name_a_trials_sweep(finished):
    first = next(t for t in finished["trials"] if t["number"] == 0)
    runs = opened("runs").dataframe[0].value
    assert runs.loc[runs["Run"] == first["run_id"], "Sweep"].item() == "lr search"
    queue = opened("queue").dataframe[0].value
    assert queue.loc[queue["Run"] == first["run_id"], "Sweep"].item() == "lr search"
    run = opened("run", run=first["run_id"])
    assert "Trial 1 of sweep 'lr search'" in [link.value for link in run.get("page_link")]
