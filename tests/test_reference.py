"""The classical reference beside every run: its score on each kind of sample, its limits, how a run keeps it, and
how `evaluate` and the pages show it."""

import json
from pathlib import Path

import numpy as np
import pytest

from db import repo
from engine.config import RunConfig
from engine.data.ingest import TABLE_FILE, add_dataset
from engine.data.prepare import prepare_dataset
from engine.data.samples import add_sample, product_reviews
from engine.training.reference import fit_reference, reference_limit, reference_sentence
from tests.conftest import open_page, page_texts, use_home
from tests.trained import table_dataset, train_run

SPLIT = RunConfig().split


def prepared(dataset: dict):
    return prepare_dataset(dataset, SPLIT.validation_fraction, SPLIT.test_fraction, SPLIT.seed)


# ---------------------------------------------------------------- the reference itself


@pytest.mark.parametrize("sample, model, at_least", [
    ("iris", "gradient boosting", 0.85),
    ("messy_iris", "gradient boosting", 0.8),  # a label only in validation must not stop the boosting
    ("reviews", "logistic regression on TF-IDF word and word-pair counts", 0.75),
    ("digits", "a support vector machine on 16 × 16 pixels", 0.95),
])
@pytest.mark.slow
def test_the_reference_beats_the_most_common_label_on_the_samples(home, sample, model, at_least):
    dataset = add_sample(sample)
    data = prepared(dataset)
    reference = fit_reference(dataset, data, 60, threads=1)
    y_train, y_test = data.arrays["train"][1], data.arrays["test"][1]
    most_common = np.mean(y_test == np.bincount(y_train).argmax())
    assert reference["model"] == model and reference["metric"] == "accuracy", reference
    assert reference["value"] >= at_least > most_common + 0.2
    assert reference["n_train"] == len(y_train) and reference["n_test"] == len(y_test)
    assert 0 < reference["seconds"] < 30 and reference["limit_seconds"] == 60


def test_the_reference_of_ratings_beats_the_average_rating(home):
    dataset = add_sample("films")
    data = prepared(dataset)
    reference = fit_reference(dataset, data, 60)
    prep = data.preprocessing
    stars = data.arrays["test"][1].astype(float) * prep["target_std"] + prep["target_mean"]
    average_only = float(np.sqrt(np.mean((stars - prep["target_mean"]) ** 2)))
    assert reference["model"] == "the average rating with user and item offsets" and reference["metric"] == "rmse"
    assert reference["value"] < average_only - 0.1


def test_the_reference_of_numbers_is_in_the_targets_units(home):
    dataset = add_sample("diabetes")
    data = prepared(dataset)
    reference = fit_reference(dataset, data, 60)
    prep = data.preprocessing
    truth = data.arrays["test"][1] * prep["target_std"] + prep["target_mean"]
    average_only = float(np.sqrt(np.mean((truth - prep["target_mean"]) ** 2)))
    assert reference["metric"] == "rmse" and 30 < reference["value"] < average_only


def test_the_time_allowed(monkeypatch):
    monkeypatch.delenv("TRAINYARD_REFERENCE_SECONDS", raising=False)
    assert reference_limit(100) == 60 and reference_limit(3000) == 300
    monkeypatch.setenv("TRAINYARD_REFERENCE_SECONDS", "5")
    assert reference_limit(3000) == 5
    monkeypatch.setenv("TRAINYARD_REFERENCE_SECONDS", "0")
    assert reference_limit(3000) == 0


def test_a_reference_that_cannot_be_made_is_skipped_with_the_reason(home):
    dataset = add_sample("iris")
    data = prepared(dataset)
    off = fit_reference(dataset, data, 0)
    assert off["skipped"] == "It is turned off on this machine (TRAINYARD_REFERENCE_SECONDS=0)."
    x_test, y_test = data.arrays["test"]
    narrower = type(data)({**data.arrays, "test": (x_test[:, 1:], y_test)}, data.preprocessing)
    failed = fit_reference(dataset, narrower, 60)
    assert failed["skipped"].startswith("Fitting it failed (ValueError: X has 3 features") and "value" not in failed


def test_a_label_rare_in_training_does_not_stop_the_timed_probes(home, tmp_path):
    # From 3,000 training rows the reference is first fitted on subsamples to time it; the validation rows of a
    # label that a subsample lacks are left out of that fit (a count of doctor visits: 8 visits is in 2 rows).
    rng = np.random.default_rng(0)
    rows = 5000
    x = rng.normal(size=(rows, 3))
    visits = np.where(x[:, 0] > 0, 1, 0)
    visits[:4] = 8
    path = tmp_path / "visits.csv"
    path.write_text("a,b,c,visits\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{v}\n" for (a, b, c), v in zip(x, visits)))
    dataset = add_dataset(path, target="visits", task="classification")
    data = prepared(dataset)
    (x_train, y_train), (x_val, y_val) = data.arrays["train"], data.arrays["validation"]
    rare = int(y_train.max())  # the class of 8 visits
    y_train, y_val = np.where(y_train == rare, 0, y_train), y_val.copy()
    y_train[0], y_val[:3] = rare, rare  # in one training row (the probes lack it) and in three validation rows
    fewer = type(data)({**data.arrays, "train": (x_train, y_train), "validation": (x_val, y_val)}, data.preprocessing)
    reference = fit_reference(dataset, fewer, 60, threads=1)
    assert "skipped" not in reference, reference
    assert reference["model"] == "gradient boosting" and reference["value"] > 0.9


def test_the_sentence_says_who_is_ahead():
    report = {"task": "classification", "n_test": 300, "metrics": {"accuracy": 0.93}}
    behind = reference_sentence({"model": "gradient boosting", "metric": "accuracy", "value": 0.97}, report)
    assert behind == ("A simple classical model (gradient boosting) is right 97 times in 100 on the same test rows; "
                      "this model 93. Try the Best preset on the New run page, or more epochs.")
    best = reference_sentence({"model": "gradient boosting", "metric": "accuracy", "value": 0.97}, report, "Best")
    assert best.endswith("this model 93. Try a search for better settings on the Sweeps page, or another model.")
    ahead = reference_sentence({"model": "gradient boosting", "metric": "accuracy", "value": 0.9}, report)
    assert ahead.endswith("is right 90 times in 100 on the same test rows; this model 93, so it is ahead.")
    close = reference_sentence({"model": "gradient boosting", "metric": "accuracy", "value": 0.928}, report)
    assert "is right 92.8% of the time on the same test rows; this model 93.0%, so it is ahead." in close
    small = {"task": "classification", "n_test": 30, "metrics": {"accuracy": 0.9}}
    assert "right 27 times out of 30 on the same test rows, and so is this model." in reference_sentence(
        {"model": "gradient boosting", "metric": "accuracy", "value": 0.9}, small)

    numbers = {"task": "regression", "n_test": 80, "metrics": {"rmse": 26100.0}}
    assert reference_sentence({"model": "gradient boosting", "metric": "rmse", "value": 24005.2}, numbers).startswith(
        "A simple classical model (gradient boosting) has a typical error (RMSE) of 24,005 on the same test rows; "
        "this model 26,100. Try")
    ratings = {"task": "rating", "n_test": 80, "metrics": {"rmse": 0.88}}
    offsets = {"model": "the average rating with user and item offsets", "metric": "rmse", "value": 0.9}
    assert reference_sentence(offsets, ratings).endswith("on the same test ratings; this model 0.88, so it is ahead.")
    skipped = reference_sentence({"model": "gradient boosting", "skipped": "It would take about 12 minutes."}, report)
    assert skipped == ("No simple classical model (gradient boosting) was fitted to compare this run with. It would "
                       "take about 12 minutes.")
    assert "before Trainyard fitted a simple classical model" in reference_sentence(None, report)


# ---------------------------------------------------------------- runs keep it


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three finished runs: one with its reference, one whose reference would take too long, one whose reference
    fails because the raw texts it reads are gone."""
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp("home"))
        done = train_run(table_dataset(home, rows=240, classes=3))

        patch.setenv("TRAINYARD_REFERENCE_SECONDS", "0.001")
        too_slow = train_run(table_dataset(home, rows=5000, name="large"), epochs=1)
        patch.delenv("TRAINYARD_REFERENCE_SECONDS")

        path = home / "reviews.csv"
        product_reviews(rows=300).to_csv(path, index=False)
        texts = add_dataset(path, name="reviews")
        prepared(texts)  # the run trains from the prepared arrays kept with the data set…
        (Path(texts["files_path"]) / TABLE_FILE).unlink()  # …while the reference needs the texts themselves
        failed = train_run(texts, "bag_of_embeddings", epochs=1)
        yield {"done": done, "too_slow": too_slow, "failed": failed}


def saved_reference(run: dict) -> dict:
    from db.session import run_folder

    return json.loads((run_folder(run["id"]) / "evaluation.json").read_text())["reference"]


@pytest.mark.slow
def test_a_finished_run_keeps_its_reference(runs):
    run = runs["done"]
    reference = saved_reference(run)
    assert reference["model"] == "gradient boosting" and reference["metric"] == "accuracy"
    assert 0.5 < reference["value"] <= 1 and reference["n_test"] == 36
    assert repo.run_summary(run["id"])["reference_accuracy"] == pytest.approx(reference["value"])
    assert any(e["message"].startswith("A simple classical model (gradient boosting) is right")
               for e in repo.list_events(run["id"]))


@pytest.mark.slow
def test_a_reference_over_its_time_is_skipped_and_the_run_still_completes(runs):
    run = runs["too_slow"]
    assert run["status"] == "completed"
    reference = saved_reference(run)
    assert reference["skipped"].startswith("It would take about ") and "on 3,500 training rows, more than the " \
        "0.001 seconds it may take." in reference["skipped"]
    assert "reference_accuracy" not in repo.run_summary(run["id"])


@pytest.mark.slow
def test_a_reference_that_fails_is_skipped_and_the_run_still_completes(runs):
    run = runs["failed"]
    assert run["status"] == "completed"
    reference = saved_reference(run)
    assert reference["model"] == "logistic regression on TF-IDF word and word-pair counts"
    assert reference["skipped"].startswith("The files of data set 'reviews' are missing")
    assert any("No simple classical model" in e["message"] for e in repo.list_events(run["id"]))


@pytest.mark.slow
def test_evaluate_json_has_the_reference(runs, capsys):
    from engine.cli import main
    from db.session import run_folder

    run = runs["done"]
    assert main(["evaluate", str(run["id"]), "--json"]) == 0
    reference = json.loads(capsys.readouterr().out)["reference"]
    assert set(reference) == {"model", "metric", "value", "seconds", "limit_seconds", "n_train", "n_test", "sentence"}
    assert reference["sentence"].startswith("A simple classical model (gradient boosting) is right ")

    assert main(["evaluate", str(runs["too_slow"]["id"]), "--json"]) == 0
    reference = json.loads(capsys.readouterr().out)["reference"]
    assert set(reference) == {"model", "skipped", "seconds", "limit_seconds", "sentence"}

    # A run evaluated before references existed gets one when it is asked for.
    path = run_folder(run["id"]) / "evaluation.json"
    report = json.loads(path.read_text())
    kept = report.pop("reference")
    path.write_text(json.dumps(report))
    assert main(["evaluate", str(run["id"])]) == 0
    assert "A simple classical model (gradient boosting) is right" in capsys.readouterr().out
    assert saved_reference(run)["value"] == pytest.approx(kept["value"])


@pytest.mark.slow
def test_evaluate_and_runs_pages_show_the_reference(runs):
    at = open_page("evaluate", run=runs["done"]["id"])
    assert "A simple classical model (gradient boosting) is right " in page_texts(at)
    assert [m.label for m in at.metric][-1] == "Classical reference"

    at = open_page("evaluate", run=runs["too_slow"]["id"])
    assert "No simple classical model (gradient boosting) was fitted to compare this run with. It would take about" \
        in page_texts(at)
    assert "Classical reference" not in [m.label for m in at.metric]

    value = saved_reference(runs["done"])["value"]
    for page, query in (("runs", {}), ("compare", {"runs": f"{runs['done']['id']},{runs['too_slow']['id']}"})):
        shown = open_page(page, **query).dataframe[0].value.set_index("Run")["Classical reference (accuracy)"]
        assert shown[runs["done"]["id"]] == pytest.approx(value), page
        assert np.isnan(shown[runs["too_slow"]["id"]]), page
