"""Each dashboard page, run by Streamlit's AppTest on a seeded SQLite database."""

import pytest
from streamlit.testing.v1 import AppTest

from db import repo
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from tests.conftest import APP, make_table
from tests.conftest import open_page as shared_open_page
from tests.conftest import page_texts as texts


@pytest.fixture
def seeded(home, tmp_path):
    path = tmp_path / "customers.csv"
    make_table().to_csv(path, index=False)
    dataset = add_dataset(path, name="customers")
    config = RunConfig().model_dump()
    done = repo.create_run(dataset["id"], "mlp", config, name="first try")
    worker = repo.register_worker("test", 1, 1, ["cpu"])
    repo.claim_next_run(worker, "test")
    repo.log_metrics(done["id"], [("train_loss", s, 1.0 / s, s / 10, float(s)) for s in range(1, 21)]
                     + [("val_loss", 10, 0.4, 1.0, 10.0), ("val_loss", 20, 0.3, 2.0, 20.0),
                        ("val_accuracy", 10, 0.7, 1.0, 10.0), ("val_accuracy", 20, 0.8, 2.0, 20.0),
                        ("test_accuracy", 20, 0.85, 2.0, 21.0), ("epochs_completed", 20, 2, 2.0, 21.0)])
    repo.finish_run(done["id"], "completed")
    waiting = repo.create_run(dataset["id"], "mlp", config)
    return {"dataset": dataset, "done": done, "waiting": waiting}


def open_page(page: str, **query) -> AppTest:
    return shared_open_page(page, timeout=30, **query)


def test_home_shows_the_steps(seeded):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "1. Upload" in texts(at) and "4. Results" in texts(at)
    assert "Latest run" in texts(at)


def test_home_on_an_empty_database_says_what_to_do(home):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert "Next: **Upload**" in texts(at)


def test_datasets_page_lists_and_reports(seeded):
    at = open_page("datasets", dataset=seeded["dataset"]["id"])
    assert any(m.value == "120" for m in at.metric)  # rows
    assert "customers" in at.selectbox[-1].format_func(at.selectbox[-1].value)


def test_datasets_page_upload_adds_a_data_set(home):
    at = open_page("datasets")
    csv = make_table(rows=60).to_csv(index=False).encode()
    at.file_uploader[0].set_value(("shop.csv", csv, "text/csv")).run()
    assert not at.exception
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    assert [d["name"] for d in repo.list_datasets()] == ["shop"]
    assert "Added 'shop'" in texts(at)


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "is empty"),
    ("garbage.csv", bytes(range(256)) * 40, "does not look like a CSV"),
    ("one_class.csv", b"a,label\n" + b"".join(b"%d,yes\n" % i for i in range(30)), "only one class"),
])
@pytest.mark.slow
def test_datasets_page_bad_files_get_a_plain_message(home, name, content, message):
    at = open_page("datasets")
    at.file_uploader[0].set_value((name, content, "text/csv")).run()
    if not at.error:  # problems found only when storing show after pressing the button
        at.button(key="add-dataset").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert repo.list_datasets() == []


def test_new_run_page_queues_a_run(seeded):
    at = open_page("new_run", dataset=seeded["dataset"]["id"])
    before = len(repo.list_runs())
    at.button(key="train").click().run()
    assert not at.exception, at.exception
    runs = repo.list_runs()
    assert len(runs) == before + 1 and runs[0]["status"] == "queued"
    assert runs[0]["config"]["model"]["name"] == "mlp"


@pytest.mark.slow
def test_new_run_page_starts_a_run_from_an_earlier_one(seeded):
    at = open_page("new_run", dataset=seeded["dataset"]["id"])
    choice = at.selectbox(key="init-from-mlp")
    assert choice.options[0] == "Fresh weights" and len(choice.options) == 2  # the finished run, not the waiting one
    assert "The trained weights of run 1 (first try), on 'customers'" in choice.options
    choice.set_value(seeded["done"]["id"]).run()
    at.button(key="train").click().run()
    assert not at.exception, at.exception
    started = repo.list_runs()[0]
    assert started["config"]["training"]["init_from"] == seeded["done"]["id"]
    page = open_page("run", run=started["id"])
    assert "the Balanced preset, the weights of run 1" in [t.value for t in page.text]
    assert any("whose trained weights this run started from" in b.label for b in page.button)


def test_new_run_page_without_data_sets_explains(home):
    at = open_page("new_run")
    assert "First add a data set" in texts(at)


def test_runs_page_lists_runs(seeded):
    at = open_page("runs")
    frame = at.dataframe[0].value
    assert list(frame["Run"]) == [seeded["waiting"]["id"], seeded["done"]["id"]]
    assert list(frame["Status"]) == ["Waiting", "Finished"]
    assert frame.loc[frame["Run"] == seeded["done"]["id"], "Test accuracy"].item() == pytest.approx(0.85)


@pytest.mark.slow
def test_run_page_shows_results_and_curves(seeded):
    at = open_page("run", run=seeded["done"]["id"])
    assert "Run 1 — first try" in at.title[0].value
    assert any(m.label == "Test accuracy" and m.value == "85.0%" for m in at.metric)
    charts = [e for e in at.main if getattr(e, "type", "") == "plotly_chart"] or at.get("plotly_chart")
    assert len(charts) == 2
    assert "own settings" in [t.value for t in at.text]  # no preset recorded
    from_preset = repo.create_run(seeded["dataset"]["id"], "mlp", RunConfig(preset="Best").model_dump())
    assert "the Best preset" in [t.value for t in open_page("run", run=from_preset["id"]).text]


def test_run_page_cancels_a_queued_run(seeded):
    at = open_page("run", run=seeded["waiting"]["id"])
    assert "Next in line." in texts(at)
    at.button(key="cancel").click().run()
    assert not at.exception
    assert repo.get_run(seeded["waiting"]["id"])["status"] == "cancelled"


@pytest.mark.slow
def test_home_sample_button_adds_the_sample_and_opens_it(home):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.button(key="sample-iris").click().run()
    assert not at.exception, at.exception
    assert [d["name"] for d in repo.list_datasets()] == ["Iris flowers"]
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.button(key="sample-iris").click().run()
    assert len(repo.list_datasets()) == 1  # a second click reuses the sample


def test_terms_that_stay_on_the_pages_are_explained():
    from dashboard.components.glossary import explain

    assert "Lower is better" in explain("Test error (RMSE)")
    assert "macro" in explain("Test F1 (macro)") and "perfect" in explain("F1 (macro)")
    assert explain("Precision at 10").startswith("Of the items")  # not the classes' precision
    assert explain("Classical reference (accuracy)").startswith("A simple classical model")
    assert explain("Weights from epoch").startswith("One pass") and explain("Parameters") is None


def test_new_run_page_says_what_several_processes_make_of_a_step_and_refuses_what_cannot_start(seeded):
    at = open_page("new_run", dataset=seeded["dataset"]["id"])
    processes = next(box for box in at.number_input if box.label == "Processes per machine")
    batch = next(box for box in at.number_input if box.label == "Batch size")
    processes.set_value(2).run()
    assert not at.exception, at.exception
    lines = [caption.value for caption in at.caption]
    assert any(f"2 processes × {batch.value} = {2 * batch.value} examples per step; learning rate" in line
               for line in lines), lines
    machines = next(box for box in at.number_input if box.label == "Machines")
    machines.set_value(2).run()  # this home's database is a SQLite file
    assert any("needs a database they all share" in warning.value for warning in at.warning)
    before = len(repo.list_runs())
    at.button(key="train").click().run()
    assert len(repo.list_runs()) == before
