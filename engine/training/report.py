"""The evaluation report of a trained model on its held-out test split, computed with scikit-learn.

Per class precision, recall and F1, the confusion matrix, ROC and precision–recall curves (binary, or one
class against the rest), errors in the target's units for numbers, ranking quality for recommendations,
the worst mistakes with their inputs, and sentences that say all this in plain words. The report is a
plain JSON document saved as runs/<id>/evaluation.json by engine.jobs.record, which also records it in the
database; nothing here touches torch or the database.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn import metrics as skm

from engine.data.transform import decode_numbers, decode_ratings
from engine.files import write_json
from engine.training.examples import describe_example
from engine.words import plain_number, times_in

REPORT_VERSION = 1
CURVE_POINTS = 200  # points kept per curve: enough for a smooth line, small enough for the page
MAX_CURVES = 20  # curves drawn for at most this many classes; the areas under them are kept for all
WORST = 12
SCATTER_POINTS = 1500
TOP_K = (1, 3, 5, 10)
EVALUATION_FILE = "evaluation.json"


# ---------------------------------------------------------------- helpers


def _thin(*columns: np.ndarray, points: int = CURVE_POINTS) -> list[list[float]]:
    """Give back the columns cut to at most `points` evenly spread entries, first and last kept."""
    n = len(columns[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int)) if n else np.array([], int)
    return [[round(float(v), 6) for v in np.asarray(column)[keep]] for column in columns]


def _quietly(function: Callable[..., float], *args: Any) -> float:
    """Give back function(*args) as a float, without scikit-learn's notes about classes absent from the test split."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(function(*args))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def clean(value: Any) -> Any:
    """Give back value with numpy numbers made plain and NaN or infinity made null (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# ---------------------------------------------------------------- classification


def _curves(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> tuple[list, list, dict]:
    """Give back ROC curves, precision–recall curves and areas: the positive class when there are two classes,
    else each class against the rest (classes absent from the test split have no curve)."""
    which = [1] if len(classes) == 2 else list(range(len(classes)))
    roc, pr, aucs, aps = [], [], {}, {}
    for index in which:
        positive = y_true == index
        if positive.all() or not positive.any():
            continue
        scores = probabilities[:, index]
        label = classes[index]
        aucs[label] = float(skm.roc_auc_score(positive, scores))
        aps[label] = float(skm.average_precision_score(positive, scores))
        if len(roc) < MAX_CURVES:
            fpr, tpr, _ = skm.roc_curve(positive, scores)
            precision, recall, _ = skm.precision_recall_curve(positive, scores)
            fpr, tpr = _thin(fpr, tpr)
            recall, precision = _thin(recall, precision)
            roc.append({"label": label, "fpr": fpr, "tpr": tpr, "auc": aucs[label]})
            pr.append({"label": label, "recall": recall, "precision": precision, "average_precision": aps[label],
                       "positive_share": float(positive.mean())})
    areas = {"roc_auc": aucs, "average_precision": aps}
    return roc, pr, areas


def classification_report(y_true: np.ndarray, logits: np.ndarray, classes: list[str],
                          inputs: Callable[[int], Any] | None = None,
                          y_train: np.ndarray | None = None) -> dict[str, Any]:
    """Give back the report of a classifier from its test labels (class indices) and its logits."""
    y_true = np.asarray(y_true).astype(int)
    probabilities = softmax(np.asarray(logits, dtype=np.float64))
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(len(classes)))
    n = len(y_true)
    accuracy = float(skm.accuracy_score(y_true, y_pred))
    metrics = {
        "accuracy": accuracy,
        "precision_macro": float(skm.precision_score(y_true, y_pred, average="macro", zero_division=0)),
        "recall_macro": float(skm.recall_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_weighted": float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "balanced_accuracy": _quietly(skm.balanced_accuracy_score, y_true, y_pred),
        "log_loss": float(skm.log_loss(y_true, probabilities, labels=labels)),
    }
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                                         zero_division=0)
    per_class = [{"label": classes[i], "precision": float(precision[i]), "recall": float(recall[i]),
                  "f1": float(f1[i]), "support": int(support[i]), "predicted": int((y_pred == i).sum())}
                 for i in labels]
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    confusions = sorted(
        ({"true": classes[t], "predicted": classes[p], "count": int(matrix[t, p])}
         for t in labels for p in labels if t != p and matrix[t, p] > 0),
        key=lambda c: -c["count"])
    roc, pr, areas = _curves(y_true, probabilities, classes)
    if areas["roc_auc"]:
        metrics["roc_auc"] = float(np.mean(list(areas["roc_auc"].values())))
        metrics["average_precision"] = float(np.mean(list(areas["average_precision"].values())))

    wrong = np.flatnonzero(y_pred != y_true)
    wrong = wrong[np.argsort(-probabilities[wrong, y_pred[wrong]], kind="stable")][:WORST]
    mistakes = [{"index": int(i), "true": classes[y_true[i]], "predicted": classes[y_pred[i]],
                 "confidence": float(probabilities[i, y_pred[i]]),
                 "probability_of_true": float(probabilities[i, y_true[i]]),
                 "input": inputs(int(i)) if inputs else None} for i in wrong]

    reference = y_train if y_train is not None and len(y_train) else y_true
    common = int(np.bincount(np.asarray(reference).astype(int), minlength=len(classes)).argmax())
    baseline = {"label": classes[common], "accuracy": float((y_true == common).mean())}
    report = {"task": "classification", "n_test": n, "classes": list(classes), "metrics": metrics,
              "per_class": per_class, "confusion_matrix": {"labels": list(classes), "counts": matrix.tolist()},
              "confusions": confusions[:10], "roc": roc, "pr": pr, "areas": areas, "baseline": baseline,
              "worst_mistakes": mistakes}
    report["summary"] = classification_summary(report)
    return report


def _auc_words(auc: float) -> str:
    for floor, words in ((0.95, "very well"), (0.85, "well"), (0.7, "fairly well"), (0.6, "a little")):
        if auc >= floor:
            return words
    # Below 0.5 its scores rank the two labels the wrong way round more often than not.
    return "hardly better than a coin toss" if auc >= 0.45 else "worse than a coin toss"


# The most common label's share of the test rows from which accuracy alone says little of a model.
UNBALANCED = 0.8


def classification_summary(report: dict[str, Any]) -> list[str]:
    """Give back the report in plain sentences, the most important first."""
    n, metrics = report["n_test"], report["metrics"]
    sentences = [f"Right {times_in(metrics['accuracy'], n)} on data it never saw ({metrics['accuracy']:.1%})."]
    baseline = report["baseline"]
    sentence = (f"Always answering the most common label, '{baseline['label']}', would be right "
                f"{times_in(baseline['accuracy'], n)}")
    auc = metrics.get("roc_auc")
    if metrics["accuracy"] > baseline["accuracy"] + 0.01:
        sentence += "."
    elif baseline["accuracy"] >= UNBALANCED and auc and auc >= 0.7:
        # A rare label is seldom the likelier answer for any one row, though the model may rank its rows first.
        sentence += (": on accuracy the model is no better, but with labels this unbalanced accuracy says little. It "
                     f"does rank the rarer labels' examples above the others (area under the ROC curve {auc:.2f}); "
                     "judge it by that and by F1.")
    else:
        sentence += ": the model has not learned more than that yet. Try more epochs or another model."
    sentences.append(sentence)
    mistakes = n - round(metrics["accuracy"] * n)
    if report["confusions"]:
        top = report["confusions"][0]
        mixed = f"answering '{top['predicted']}' where the true label was '{top['true']}'"
        if mistakes == 1:
            sentences.append(f"Its one mistake: {mixed}.")
        elif top["count"] == mistakes:
            sentences.append(f"All {mistakes} of its mistakes were {mixed}.")
        else:
            sentences.append(f"It most often confuses '{top['true']}' with '{top['predicted']}': {top['count']} of "
                             f"its {mistakes} mistakes were {mixed}.")
    elif n:
        sentences.append("It made no mistakes on the test examples.")
    present = [c for c in report["per_class"] if c["support"] > 0]
    if len(present) > 1:
        weakest = min(present, key=lambda c: (c["f1"], c["label"]))
        if weakest["f1"] < 0.999:
            sentences.append(
                f"It is least reliable on '{weakest['label']}': it finds {weakest['recall']:.0%} of them, and when "
                f"it says '{weakest['label']}' it is right {weakest['precision']:.0%} of the time.")
    if "roc_auc" in metrics and len(report["classes"]) == 2:
        positive = report["classes"][1]
        sentences.append(f"It tells '{positive}' from '{report['classes'][0]}' {_auc_words(metrics['roc_auc'])} "
                         f"(area under the ROC curve {metrics['roc_auc']:.2f}; 1 is perfect, 0.5 is guessing).")
    return sentences


# ---------------------------------------------------------------- numbers


def _error_figures(true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(true), size=min(len(true), SCATTER_POINTS), replace=False))
    errors = predicted - true
    counts, edges = np.histogram(errors, bins=min(30, max(5, len(true) // 5)))
    return {"scatter": {"true": true[keep].round(6).tolist(), "predicted": predicted[keep].round(6).tolist()},
            "error_histogram": {"edges": edges.round(6).tolist(), "counts": counts.tolist()}}


def regression_report(true: np.ndarray, predicted: np.ndarray, target: str, baseline_value: float,
                      inputs: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Give back the report of a model predicting a number, from test values and predictions in the target's units."""
    true, predicted = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    errors = np.abs(predicted - true)
    metrics = {
        "mae": float(skm.mean_absolute_error(true, predicted)),
        "rmse": float(np.sqrt(skm.mean_squared_error(true, predicted))),
        "r2": float(skm.r2_score(true, predicted)) if len(true) > 1 else float("nan"),
        "median_absolute_error": float(skm.median_absolute_error(true, predicted)),
        "max_error": float(errors.max()) if len(errors) else 0.0,
    }
    worst = np.argsort(-errors, kind="stable")[:WORST]
    mistakes = [{"index": int(i), "true": float(true[i]), "predicted": float(predicted[i]),
                 "error": float(predicted[i] - true[i]), "input": inputs(int(i)) if inputs else None} for i in worst]
    baseline = {"value": float(baseline_value), "mae": float(np.abs(true - baseline_value).mean())}
    report = {"task": "regression", "n_test": len(true), "target": target, "metrics": metrics,
              "baseline": baseline, "worst_mistakes": mistakes, **_error_figures(true, predicted)}
    report["summary"] = regression_summary(report)
    return report


def regression_summary(report: dict[str, Any]) -> list[str]:
    metrics, target = report["metrics"], report["target"]
    sentences = [f"On data it never saw, its predictions of '{target}' are off by {plain_number(metrics['mae'])} on "
                 f"average; half of them by less than {plain_number(metrics['median_absolute_error'])}.",
                 f"Always guessing the average ({plain_number(report['baseline']['value'])}) would be off by "
                 f"{plain_number(report['baseline']['mae'])} on average."]
    r2 = metrics["r2"]
    if r2 is not None and math.isfinite(r2):
        if r2 > 0:
            sentences.append(f"It explains {r2:.0%} of the differences in '{target}' between examples (R² {r2:.2f}; "
                             "1 is perfect, 0 is no better than the average).")
        else:
            sentences.append(f"It does no better than always guessing the average (R² {r2:.2f}). Try more epochs "
                             "or another model.")
    return sentences


# ---------------------------------------------------------------- recommendations


def ranking_quality(users: np.ndarray, true: np.ndarray, predicted: np.ndarray, threshold: float,
                    k: int) -> tuple[float, float]:
    """Give back (precision at k, recall at k) averaged over users, ranking each user's test items by prediction.

    An item counts as liked when its true rating is at least threshold. Precision: the share of liked items among
    each user's top k; recall: the share of each user's liked items that made the top k (users who liked none are
    left out of recall).
    """
    precisions, recalls = [], []
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.diff(users[order])) + 1
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        ranked = rows[np.argsort(-predicted[rows], kind="stable")]
        top = ranked[:k]
        liked = true[rows] >= threshold
        hits = int((true[top] >= threshold).sum())
        precisions.append(hits / len(top))
        if liked.any():
            recalls.append(hits / int(liked.sum()))
    return (float(np.mean(precisions)) if precisions else float("nan"),
            float(np.mean(recalls)) if recalls else float("nan"))


def rating_report(pairs: np.ndarray, true: np.ndarray, predicted: np.ndarray, threshold: float,
                  baseline_value: float, inputs: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Give back the report of a recommender from test (user, item) pairs and ratings in the ratings' units."""
    true, predicted = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    metrics = {"rmse": float(np.sqrt(skm.mean_squared_error(true, predicted))),
               "mae": float(skm.mean_absolute_error(true, predicted))}
    users = np.asarray(pairs)[:, 0]
    for k in TOP_K:
        metrics[f"precision_at_{k}"], metrics[f"recall_at_{k}"] = ranking_quality(users, true, predicted,
                                                                                  threshold, k)
    errors = np.abs(predicted - true)
    worst = np.argsort(-errors, kind="stable")[:WORST]
    mistakes = [{"index": int(i), "true": float(true[i]), "predicted": float(predicted[i]),
                 "error": float(predicted[i] - true[i]), "input": inputs(int(i)) if inputs else None} for i in worst]
    report = {"task": "rating", "n_test": len(true), "n_users": int(len(np.unique(users))), "metrics": metrics,
              "median_test_ratings_per_user": float(np.median(np.unique(users, return_counts=True)[1])),
              "liked_threshold": float(threshold),
              "baseline": {"value": float(baseline_value), "mae": float(np.abs(true - baseline_value).mean())},
              "worst_mistakes": mistakes, **_error_figures(true, predicted)}
    report["k"] = summary_k(report)
    report["summary"] = rating_summary(report)
    return report


def summary_k(report: dict[str, Any]) -> int:
    """Give back the k worth saying: the largest below the typical number of test ratings per user.

    With fewer test items than k, a user's top k holds all of them and recall at k says nothing.
    """
    typical = report["median_test_ratings_per_user"]
    return max([k for k in TOP_K if k < typical] or [TOP_K[0]])


def rating_summary(report: dict[str, Any]) -> list[str]:
    metrics = report["metrics"]
    k = summary_k(report)
    sentences = [f"On ratings it never saw, its predicted ratings are off by {metrics['mae']:.2f} on average "
                 f"(always guessing the average rating would be off by {report['baseline']['mae']:.2f})."]
    precision, recall = metrics[f"precision_at_{k}"], metrics[f"recall_at_{k}"]
    if precision is None or not math.isfinite(precision):
        return sentences
    if k == 1:
        sentences.append(f"Ranking each user's test items by its predictions, the one it puts first is an item the "
                         f"user liked (rated {report['liked_threshold']:g} or more) for {precision:.0%} of users.")
    else:
        sentences.append(
            f"Ranking each user's test items by its predictions: of the {k} it puts first, {precision:.0%} are ones "
            f"the user liked (rated {report['liked_threshold']:g} or more), and it puts {recall:.0%} of the items a "
            f"user liked among those {k}.")
    return sentences


def liked_threshold(mean: float) -> float:
    """Give back the rating from which an item counts as liked: the average rating, rounded up to a half."""
    return math.ceil(mean * 2) / 2


# ---------------------------------------------------------------- the whole report


def evaluation_report(prep: dict[str, Any], x_test: np.ndarray, y_test: np.ndarray, outputs: np.ndarray,
                      y_train: np.ndarray | None = None) -> dict[str, Any]:
    """Give back the JSON-able report of a model's outputs on the test split, for the task in prep."""
    def inputs(i: int) -> Any:
        return describe_example(prep, x_test[i])

    outputs = np.asarray(outputs, dtype=np.float64)
    numbers = outputs.reshape(len(outputs), -1)[:, 0]
    if prep["task"] == "classification":
        report = classification_report(y_test, outputs, prep["classes"], inputs, y_train)
    elif prep["task"] == "regression":
        report = regression_report(decode_numbers(prep, y_test), decode_numbers(prep, numbers),
                                   prep.get("target", "target"), prep["target_mean"], inputs)
    else:
        # True ratings are restored exactly; predictions are clipped to the ratings' range, as users see them.
        report = rating_report(x_test, decode_numbers(prep, y_test),
                               decode_ratings(prep, numbers),
                               prep.get("liked_threshold", liked_threshold(prep["target_mean"])), prep["target_mean"],
                               inputs)
    report.update({"version": REPORT_VERSION, "kind": prep["kind"]})
    return clean(report)


def save_report(path: Path, report: dict[str, Any]) -> None:
    write_json(path, clean(report), indent=None)
