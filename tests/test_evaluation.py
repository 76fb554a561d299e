"""The evaluation report: its figures against scikit-learn and by hand on known predictions, its sentences,
the report every run gets, and k-fold cross-validation."""

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from db import repo
from engine.config import RunConfig
from engine.training.report import (classification_report, evaluation_report, ranking_quality, rating_report,
                                    regression_report)
from tests.conftest import APP, open_page, use_home
from tests.trained import table_dataset, train_run

DIGITS = [str(d) for d in range(10)]


def logits_for(predicted: list[int], n_classes: int, confidence: float = 3.0, seed: int = 0) -> np.ndarray:
    """Logits whose largest entry is at predicted, with some noise elsewhere so curves are not trivial."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=0.5, size=(len(predicted), n_classes))
    logits[np.arange(len(predicted)), predicted] += confidence
    return logits


def test_classification_figures_match_scikit_learn_and_a_hand_count():
    true = [3, 3, 3, 3, 3, 8, 8, 8, 8, 1, 1, 1, 5, 5, 5, 5, 0, 0, 0, 0]
    pred = [3, 3, 8, 8, 3, 8, 8, 8, 3, 1, 1, 5, 5, 5, 5, 5, 0, 0, 8, 0]
    logits = logits_for(pred, 10)
    report = classification_report(np.array(true), logits, DIGITS)

    metrics = report["metrics"]
    assert metrics["accuracy"] == pytest.approx(15 / 20)  # counted by hand
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(true, pred))
    for name, function in (("precision_macro", skm.precision_score), ("recall_macro", skm.recall_score),
                           ("f1_macro", skm.f1_score)):
        assert metrics[name] == pytest.approx(function(true, pred, average="macro", zero_division=0)), name
    assert metrics["f1_weighted"] == pytest.approx(skm.f1_score(true, pred, average="weighted"))
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(true, probabilities, labels=list(range(10))))

    per_class = {c["label"]: c for c in report["per_class"]}
    assert per_class["3"]["recall"] == pytest.approx(3 / 5) and per_class["3"]["precision"] == pytest.approx(3 / 4)
    assert per_class["8"]["support"] == 4 and per_class["8"]["predicted"] == 6
    assert per_class["9"]["support"] == 0  # a class absent from the test split still has its row
    matrix = np.array(report["confusion_matrix"]["counts"])
    assert (matrix == skm.confusion_matrix(true, pred, labels=list(range(10)))).all()
    assert matrix[3, 8] == 2 and matrix.sum() == 20
    assert report["confusions"][0] == {"true": "3", "predicted": "8", "count": 2}

    # One-vs-rest curves exist for the classes present; their areas are scikit-learn's.
    for curve in report["roc"]:
        positive = np.array(true) == int(curve["label"])
        assert curve["auc"] == pytest.approx(skm.roc_auc_score(positive, probabilities[:, int(curve["label"])]))
        assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1
    assert {c["label"] for c in report["roc"]} == {"0", "1", "3", "5", "8"}
    for curve in report["pr"]:
        positive = np.array(true) == int(curve["label"])
        assert curve["average_precision"] == pytest.approx(
            skm.average_precision_score(positive, probabilities[:, int(curve["label"])]))

    # The worst mistakes are the wrong answers given with the most confidence.
    mistakes = report["worst_mistakes"]
    assert len(mistakes) == 5 and all(m["true"] != m["predicted"] for m in mistakes)
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)

    summary = " ".join(report["summary"])
    assert "Right 15 times out of 20 on data it never saw" in summary
    assert "most often confuses '3' with '8'" in summary
    json.dumps(report)  # plain JSON throughout


def test_binary_and_multiclass_areas_match_scikit_learn():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 2, size=200)
    scores = true + rng.normal(scale=0.8, size=200)
    report = classification_report(true, np.stack([-scores, scores], 1), ["no", "yes"])
    probability_yes = 1 / (1 + np.exp(-2 * scores))
    assert len(report["roc"]) == 1 and report["roc"][0]["label"] == "yes"
    assert report["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(true, probability_yes))
    assert report["metrics"]["average_precision"] == pytest.approx(skm.average_precision_score(true, probability_yes))
    assert len(report["roc"][0]["fpr"]) <= 200
    assert "Right 7" in report["summary"][0] or "times in 100" in report["summary"][0]
    assert "tells 'yes' from 'no'" in " ".join(report["summary"])

    true = rng.integers(0, 3, size=300)
    logits = np.eye(3)[true] * 1.5 + rng.normal(size=(300, 3))
    report = classification_report(true, logits, ["a", "b", "c"])
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert report["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(true, probabilities, multi_class="ovr"))


def test_scores_ranked_the_wrong_way_round_are_called_worse_than_a_coin_toss():
    true = np.array([0, 1] * 20)
    scores = np.where(true == 1, -1.0, 1.0) + np.linspace(-0.5, 0.5, 40)  # the labels' scores swapped
    summary = " ".join(classification_report(true, np.stack([-scores, scores], 1), ["no", "yes"])["summary"])
    assert "tells 'yes' from 'no' worse than a coin toss (area under the ROC curve 0.00;" in summary


def test_a_model_no_better_than_the_majority_says_so():
    true = np.array([0] * 90 + [1] * 10)
    report = classification_report(true, np.tile([2.0, 0.0], (100, 1)), ["healthy", "ill"], y_train=true)
    assert report["baseline"] == {"label": "healthy", "accuracy": 0.9}
    assert "Right 90 times in 100" in report["summary"][0]
    assert "has not learned more than that" in report["summary"][1]

    # Scores that rank the ill first, though never above one half: accuracy cannot show it, the ROC area does.
    scores = np.where(true == 1, -0.5, -2.0) + np.linspace(0, 0.3, 100)
    ranked = classification_report(true, np.stack([np.zeros(100), scores], 1), ["healthy", "ill"], y_train=true)
    assert ranked["metrics"]["accuracy"] == 0.9 and ranked["metrics"]["roc_auc"] > 0.9
    assert ("would be right 90 times in 100: on accuracy the model is no better, but with labels this unbalanced "
            "accuracy says little. It does rank the rarer labels' examples above the others (area under the ROC "
            "curve 1.00); judge it by that and by F1.") in ranked["summary"][1]


def test_regression_figures_match_scikit_learn():
    rng = np.random.default_rng(2)
    true = rng.normal(50, 10, size=80)
    predicted = true + rng.normal(0, 3, size=80)
    predicted[7] += 40  # one bad miss
    report = regression_report(true, predicted, "price", baseline_value=50.0)
    metrics = report["metrics"]
    assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(true, predicted))
    assert metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(true, predicted)))
    assert metrics["r2"] == pytest.approx(skm.r2_score(true, predicted))
    assert metrics["median_absolute_error"] == pytest.approx(skm.median_absolute_error(true, predicted))
    assert report["worst_mistakes"][0]["index"] == 7
    assert report["baseline"]["mae"] == pytest.approx(np.abs(true - 50).mean())
    assert sum(report["error_histogram"]["counts"]) == 80
    summary = " ".join(report["summary"])
    assert "predictions of 'price' are off by" in summary and "explains" in summary


def test_precision_and_recall_at_k_by_hand():
    # user 1: rated items 4 ★5, 2 ★2, 3 ★4 (liked: ≥ 3.5 → items 4 and 3); the model ranks 2 > 4 > 3.
    # user 2: one item rated ★1, not liked.
    users = np.array([1, 1, 1, 2])
    true = np.array([5.0, 2.0, 4.0, 1.0])
    predicted = np.array([4.0, 4.5, 3.0, 2.0])
    assert ranking_quality(users, true, predicted, 3.5, k=1) == pytest.approx(((0 / 1 + 0 / 1) / 2, 0 / 2))
    assert ranking_quality(users, true, predicted, 3.5, k=2) == pytest.approx(((1 / 2 + 0 / 1) / 2, 1 / 2))
    assert ranking_quality(users, true, predicted, 3.5, k=3) == pytest.approx(((2 / 3 + 0 / 1) / 2, 2 / 2))

    report = rating_report(np.stack([users, [4, 2, 3, 9]], 1), true, predicted, 3.5, baseline_value=3.0)
    assert report["metrics"]["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(true, predicted)))
    assert report["metrics"]["mae"] == pytest.approx(skm.mean_absolute_error(true, predicted))
    assert report["metrics"]["precision_at_5"] == pytest.approx((2 / 3 + 0) / 2)
    assert "off by" in report["summary"][0]
    # Users have two test ratings or fewer: a top 3 would hold them all, so the sentence speaks of the first one.
    assert report["k"] == 1 and "the one it puts first is an item the user liked" in report["summary"][1]


def test_worst_mistakes_show_the_inputs_of_each_kind():
    table = {"kind": "tabular", "task": "classification", "classes": ["no", "yes"],
             "numeric": [{"name": "age", "median": 40.0, "mean": 40.0, "std": 10.0}],
             "categorical": [{"name": "city", "categories": ["Paris", "Oslo"]}], "n_features": 4}
    x = np.array([[1.5, 0, 1, 0], [-1.0, 0, 0, 1]], dtype=np.float32)
    report = evaluation_report(table, x, np.array([0, 1]), np.array([[0.0, 2.0], [0.0, 1.0]]))
    assert report["worst_mistakes"][0]["input"] == {"age": 55.0, "city": "Oslo"}

    text = {"kind": "text", "task": "classification", "classes": ["bad", "good"], "vocabulary": ["great", "film"]}
    report = evaluation_report(text, np.array([[2, 3, 1, 0]]), np.array([0]), np.array([[0.0, 1.0]]))
    assert report["worst_mistakes"][0]["input"] == "great film …"

    image = {"kind": "image", "task": "classification", "classes": ["a", "b"], "mean": [0.5], "std": [0.25]}
    report = evaluation_report(image, np.zeros((1, 1, 4, 4), np.float32), np.array([0]), np.array([[0.0, 1.0]]))
    assert report["worst_mistakes"][0]["input"].startswith("data:image/png;base64,")

    ratings = {"kind": "ratings", "task": "rating", "users": ["ann"], "items": ["x", "y"], "target_mean": 3.0,
               "target_std": 1.0, "rating_min": 1.0, "rating_max": 5.0}
    report = evaluation_report(ratings, np.array([[1, 2], [0, 1]]), np.array([1.0, -1.0]), np.array([[5.0], [0.0]]))
    assert report["worst_mistakes"][0]["input"] == {"user": "ann", "item": "y"}
    assert report["worst_mistakes"][0]["predicted"] == 5.0  # clipped to the ratings' range


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One finished run on a table of three labels, shared by the tests that read its evaluation."""
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp("home"))
        yield train_run(table_dataset(home, rows=240, classes=3))


@pytest.mark.slow
def test_every_finished_run_has_its_evaluation(evaluated, capsys):
    from engine.cli import main
    from db.session import run_folder

    run = evaluated
    assert [a["kind"] for a in repo.list_artifacts(run["id"])] == ["model", "evaluation"]
    saved = json.loads((run_folder(run["id"]) / "evaluation.json").read_text())
    summary = repo.run_summary(run["id"])
    assert saved["metrics"]["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert saved["metrics"]["f1_macro"] == pytest.approx(summary["test_f1_macro"])
    assert saved["n_test"] == 36 and len(saved["per_class"]) == 3

    assert main(["evaluate", str(run["id"]), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["run"] == run["id"] and document["summary"] == saved["summary"]

    # A run trained before reports existed gets one when it is asked for.
    (run_folder(run["id"]) / "evaluation.json").unlink()
    assert main(["evaluate", str(run["id"])]) == 0
    assert "on data it never saw" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_page_shows_the_report(evaluated):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(evaluated["id"])
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, at.exception
    assert "on data it never saw" in at.markdown[0].value or any("never saw" in m.value for m in at.markdown)
    assert [m.label for m in at.metric][:2] == ["Accuracy", "F1 (macro)"]
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # confusion matrix, per label, ROC, precision–recall
    assert list(at.dataframe[0].value["Label"]) == ["class_0", "class_1", "class_2"]
    at.toggle(key="matrix-share").set_value(True).run()
    assert not at.exception
    assert at.button(key="make-bundle").label == "Prepare the download"

    # A cross-validated run shows its folds too.
    from db.session import run_folder
    from engine.training.crossval import summarise

    folds = [{"fold": i, "n_fold": 60, "n_test": 36, "accuracy": a, "f1_macro": a} for i, a in
             enumerate((0.8, 0.9, 0.85), start=1)]
    (run_folder(evaluated["id"]) / "crossval.json").write_text(json.dumps(summarise(folds)))
    at.run()
    assert not at.exception, at.exception
    from dashboard.components.text import markdown_safe

    assert any(markdown_safe("Across 3 folds, the accuracy on rows each model never saw was 85.0% ± 4.1%") in m.value
               for m in at.markdown)
    assert len(at.get("plotly_chart")) == 5


def test_evaluate_page_without_finished_runs_says_what_to_do(home):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("views/evaluate.py").run()
    assert not at.exception and "No finished runs yet" in at.info[0].value


@pytest.fixture
def dataset(home, tmp_path):
    return table_dataset(tmp_path, rows=240, classes=3)


@pytest.mark.slow
def test_cross_validation_reports_each_fold_and_mean_and_std(dataset):
    from db.session import run_folder
    from engine.jobs.runner import run_cross_validation

    import torch

    base = RunConfig.model_validate({"model": {"name": "mlp", "hidden_sizes": [8]},
                                     "training": {"epochs": 2, "batch_size": 32}})
    config = base.model_copy(update={"split": base.split.model_copy(update={"folds": 3})})
    run = repo.create_run(dataset["id"], "mlp", base.model_dump())
    seen = []
    result = run_cross_validation(run["id"], config, dataset, torch.device("cpu"), [], progress=seen.append)
    assert result["folds"] == 3 and [f["fold"] for f in result["per_fold"]] == [1, 2, 3]
    accuracies = [f["accuracy"] for f in result["per_fold"]]
    assert result["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert result["std"]["accuracy"] == pytest.approx(np.std(accuracies))
    assert all(0 <= a <= 1 for a in accuracies) and "test_accuracy" in result["per_fold"][0]
    # The folds together cover every row outside the test split once.
    assert sum(f["n_fold"] for f in result["per_fold"]) == 240 - result["per_fold"][0]["n_test"]
    assert "Across 3 folds, the accuracy" in result["summary"][0] and "±" in result["summary"][0]
    assert seen and seen[-1] == pytest.approx(1.0)
    assert json.loads((run_folder(run["id"]) / "crossval.json").read_text()) == json.loads(json.dumps(result))
    summary = repo.run_summary(run["id"])
    assert summary["cv_accuracy_mean"] == pytest.approx(result["mean"]["accuracy"])
    # Asked again (a resumed run), it does not train the folds twice.
    assert run_cross_validation(run["id"], config, dataset, torch.device("cpu"), []) is None


@pytest.mark.slow
def test_a_ratings_run_gives_one_test_figure_everywhere(home, capsys):
    """The run's test RMSE and MAE (run lists, `runs show`, the run page) are the evaluation report's own, to the
    last digit, and each is one point: the training loop's figure, which did not clip predicted ratings to the
    scale, is replaced."""
    from engine.cli import main
    from engine.data.samples import add_sample
    from engine.jobs.record import evaluation_document

    run = train_run(add_sample("films"), "matrix_factorization", epochs=3, batch_size=256)
    report = evaluation_document(run["id"])
    summary = repo.run_summary(run["id"])
    assert summary["test_rmse"] == report["metrics"]["rmse"] and summary["test_mae"] == report["metrics"]["mae"]
    assert main(["runs", "show", str(run["id"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["summary"]["test_rmse"] == report["metrics"]["rmse"]
    assert len(repo.metric_history(run["id"], "test_rmse")) == 1


@pytest.mark.slow
def test_figures_in_a_targets_own_large_units_are_plain_numbers(home, tmp_path):
    """House prices are shown as 49,713, never 4.971e+04: the Evaluate page's figures, its reference, the run
    page's test errors and the data set's report."""
    from streamlit.testing.v1 import AppTest

    from engine.data.ingest import add_dataset

    rng = np.random.default_rng(0)
    size = rng.uniform(50, 300, 300)
    path = tmp_path / "houses.csv"
    path.write_text("size,price\n" + "".join(f"{s:.1f},{1500 * s + rng.normal(0, 20_000):.0f}\n" for s in size))
    run = train_run(add_dataset(path, name="houses", target="price", task="regression"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(run["id"])
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, at.exception
    figures = {m.label: m.value for m in at.metric}
    assert {"Mean error (MAE)", "RMSE", "Median error", "Classical reference"} <= set(figures), figures
    for label in ("Mean error (MAE)", "RMSE", "Classical reference"):
        assert "e+" not in figures[label] and float(figures[label].replace(",", "")) >= 1000, figures
    assert "," in figures["RMSE"]
    at.switch_page("views/run.py").run()
    assert not at.exception, at.exception
    errors = {m.label: m.value for m in at.metric if m.label.startswith("Test error")}
    assert errors and all("e+" not in value and "," in value for value in errors.values()), errors
    report = open_page("datasets", dataset=run["dataset_id"])
    said = next(m.value for m in report.markdown if "ranges from" in m.value)
    assert "e+" not in said and "," in said, said


def test_plain_numbers():
    from engine.words import plain_number

    assert plain_number(49713.4) == "49,713" and plain_number(49713.4, 4, separators=False) == "49713"
    assert plain_number(0.894512, 4) == "0.8945" and plain_number(57.93) == "57.9" and plain_number(-1234.5) == "-1,234"
    assert "e" not in plain_number(8.848e5, 4) and plain_number(8.848e5, 4) == "884,800"
    assert plain_number(999.7) == "1,000" and plain_number(-999.97, 4) == "-1,000"
