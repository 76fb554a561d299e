"""The whole model: which of a table's columns matter most on the run's test split (permutation importance), and
explanations of the run's worst mistakes on the Evaluate page."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import UserError
from engine.words import plain_number
from engine.explain import APPROXIMATION

REPEATS = 5  # shuffles per column: the spread between them is shown beside the mean
# A column's importance as the sentence, the Evaluate page's chart and the command line's table show it, per metric:
# a drop in accuracy in points (0.0373 → 3.73), a rise in the error in the target's own units.
SHOWN_SCALE = {"accuracy": 100.0, "rmse": 1.0}


class _ColumnShuffler:
    """A scikit-learn estimator over row numbers, one per user column: permutation_importance shuffles a column of
    row numbers, and the model then reads that column's cells (all of its encoded slots) from the shuffled rows —
    exactly a shuffle of the user's column, however many slots it takes once encoded."""

    def __init__(self, predict, encoded: np.ndarray, slots: list[list[int]]):
        self.predict_encoded, self.encoded, self.slots = predict, encoded, slots

    def fit(self, rows, y=None):  # the model is trained already
        return self

    def predict(self, rows: np.ndarray) -> np.ndarray:
        x = self.encoded.copy()
        for column, where in enumerate(self.slots):
            x[:, where] = self.encoded[np.ix_(rows[:, column].astype(np.int64), where)]
        return self.predict_encoded(x)


def column_importance(run_id: int) -> dict[str, Any]:
    """Give back how much the test score drops when each column's values are shuffled between the test rows."""
    from sklearn.inspection import permutation_importance

    from db import repo
    from engine.data.prepare import prepare_run_data
    from engine.data.prepare_tables import column_inputs
    from engine.serving.predict import TorchModel, load_trained

    trained = load_trained(run_id)
    prep = trained.preprocessing
    if prep["kind"] != "tabular":
        raise UserError(f"Run {run_id} was trained on {prep['kind']} data; which columns matter is worked out for "
                        "tables only.")
    _, data = prepare_run_data(repo.get_run(run_id))
    x, y = data.arrays["test"]
    if len(x) < 2:
        raise UserError(f"The test split of run {run_id} has fewer than 2 rows, too few to shuffle.")
    model = TorchModel(trained.model)
    named = column_inputs(prep)
    classify = prep["task"] == "classification"
    if classify:
        metric = "accuracy"

        def cost(drop: float) -> str:
            return f"costs {plain_number(drop * SHOWN_SCALE['accuracy'])} points of accuracy"

        def predict(encoded: np.ndarray) -> np.ndarray:
            return model(encoded).argmax(axis=1)

        def score(estimator, rows, truth) -> float:
            return float((estimator.predict(rows) == truth).mean())
    else:
        metric = "rmse"

        def cost(drop: float) -> str:
            return (f"adds {plain_number(drop)} to the typical error (RMSE, in {prep.get('target', 'the target')}'s "
                    "units)")
        std = float(prep.get("target_std", 1.0))

        def predict(encoded: np.ndarray) -> np.ndarray:
            return model(encoded).reshape(len(encoded), -1)[:, 0]

        def score(estimator, rows, truth) -> float:  # higher is better: minus the error, in the target's units
            return -float(np.sqrt(np.mean((estimator.predict(rows) - truth) ** 2))) * std

    rows = np.tile(np.arange(len(x))[:, None], (1, len(named))).astype(np.float64)
    estimator = _ColumnShuffler(predict, x, [where for _, where in named])
    found = permutation_importance(estimator, rows, y, scoring=score, n_repeats=REPEATS, random_state=0)
    baseline = score(estimator, rows, y)
    columns = sorted(({"name": name, "importance": round(float(mean), 6), "spread": round(float(spread), 6)}
                      for (name, _), mean, spread in zip(named, found.importances_mean, found.importances_std)),
                     key=lambda c: -c["importance"])
    scale = SHOWN_SCALE[metric]
    top = columns[0]
    if top["importance"] <= 0:
        sentence = "Shuffling any single column barely changed the test score: no column stands out on its own."
    else:
        sentence = f"'{top['name']}' matters most: shuffling it between the test rows {cost(top['importance'])}"
        if len(columns) > 1 and columns[1]["importance"] > 0:
            sentence += f", then '{columns[1]['name']}' ({plain_number(columns[1]['importance'] * scale)})"
        sentence += "."
    return {"run": run_id, "method": "permutation importance (scikit-learn)", "metric": metric,
            "test_score": round(baseline if classify else -baseline, 6), "repeats": REPEATS, "n_test": int(len(x)),
            "columns": columns, "sentence": sentence,
            "note": "Each column's values are shuffled between the test rows and the score measured again: the drop "
                    "is how much the model relies on that column. Columns that carry the same information share "
                    "the credit."}


def explain_mistakes(run_id: int, count: int = 6) -> dict[str, Any]:
    """Give back explanations of the run's worst mistakes on its test split (as its evaluation lists them)."""
    from db import repo
    from engine.explain.attributions import explain_encoded
    from engine.explain.recommendations import explain_recommendations, rated_by_user
    from engine.data.prepare import prepare_run_data
    from engine.jobs.record import evaluation_document
    from engine.serving.inputs import ANSWERS
    from engine.serving.predict import TorchModel, load_trained

    trained = load_trained(run_id)
    prep = trained.preprocessing
    document = evaluation_document(run_id)
    mistakes = document.get("worst_mistakes", [])[:count]
    if not mistakes:
        return {"run": run_id, "mistakes": [], "note": APPROXIMATION}
    _, data = prepare_run_data(repo.get_run(run_id))
    x_test = data.arrays["test"][0]
    indices = [m["index"] for m in mistakes]
    x = x_test[indices]
    if prep["kind"] == "ratings":
        items = [str(i) for i in prep["items"]]
        users = prep.get("users", [])
        answers = [{"user": str(users[int(u) - 1]) if 0 < int(u) <= len(users) else "unknown",
                    "top_items": [{"item": items[int(i) - 1], "predicted_rating": m["predicted"]}]}
                   for (u, i), m in zip(x.tolist(), mistakes)]
        explanations = explain_recommendations(trained.model, prep, answers, rated_by_user(run_id, prep))
    else:
        answers = ANSWERS[prep["task"]](prep, TorchModel(trained.model)(x))
        explanations = explain_encoded(trained, x, answers)
    return {"run": run_id, "note": APPROXIMATION,
            "mistakes": [{"index": m["index"], "true": m["true"], "predicted": m["predicted"]} | explanation
                         for m, explanation in zip(mistakes, explanations)]}
