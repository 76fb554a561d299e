"""The classical reference: a simple scikit-learn model fitted on a run's training rows and scored on its test rows.

It is the yardstick beside every finished run, so a person can see whether the deep model earns its keep:

- tables: histogram gradient boosting on the run's own feature matrix;
- pictures: a support vector machine on the pixels shrunk to at most 16 × 16 (logistic regression instead when
  the support vector machine would take too long);
- texts: TF-IDF of words and word pairs + logistic regression, on the raw texts of the run's rows;
- ratings: the average rating plus each user's and each item's regularised offset from it.

Only the training rows are fitted on, with fixed settings, except where a setting matters too much to fix: the
rounds of boosting and the ratings' regularisation are chosen on the validation rows, as a run chooses its epoch
there. The score is on the run's test rows, in the units of the run's own report: accuracy,
or the root mean squared error in the target's units. Nothing here touches torch or the database; the result is
a plain dict (see fit_reference), which the runner stores in the run's evaluation report.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from engine.errors import UserError
from engine.words import duration_words

LIMIT_FLOOR = 60.0  # seconds a reference may always take
LIMIT_SHARE = 0.1  # …or this share of the run's training time, whichever is larger
LIMIT_SETTING = "TRAINYARD_REFERENCE_SECONDS"  # overrides the limit on a machine; 0 turns the reference off
PROBE_ROWS = 1000  # the smaller timed subsample has at least this many rows (below three times it: no probe)
PROBE_SHARE = 0.05  # …or this share of the training rows
SAFETY = 1.25  # the estimate is scaled up by this much before it is held against the time left
BOOSTING_ROUNDS = 200  # tables: the most rounds of gradient boosting
PIXELS = 16  # pictures are shrunk to at most this many pixels a side
# Texts: the logistic regression's C. TF-IDF rows are unit vectors spread over many words, so the default 1 holds the
# weights back (reviews sample, 3 splits: 0.849 against 0.842).
TEXT_C = 10.0
RATING_REGULARISATION = (1.0, 3.0, 10.0, 30.0)  # ratings: pseudo-ratings pulling each offset to 0


class Skipped(Exception):
    """The reference is not fitted; the message says why, in plain words."""


@dataclass
class Recipe:
    """How one kind of data gets its classical model: its name, features, estimator and cost growth."""

    name: str
    x_train: Any
    y_train: np.ndarray
    x_test: Any
    make: Callable[[], Any]  # a fresh, unfitted estimator with fit and predict
    growth: float  # fit time grows as (rows) ** growth: 1 for boosting and linear models, 2 for kernel machines
    fallback: Recipe | None = None  # tried instead when this one would take too long
    # More arguments of fit (validation rows), given the training labels of that fit: a probe on a subsample may
    # lack a rare label that the validation rows have, which a classifier cannot score.
    fit_options: Callable[[np.ndarray], dict[str, Any]] = lambda y_train: {}
    # The share of its full work that a fitted model did (boosting: the rounds it ran of those allowed), so that a
    # probe that stopped early is timed as if it had not.
    share_done: Callable[[Any], float] = lambda model: 1.0


# ---------------------------------------------------------------- the time allowed


def reference_limit(training_seconds: float) -> float:
    """Give back the seconds a run's reference may take: a tenth of its training time, or 60 s if that is more.

    TRAINYARD_REFERENCE_SECONDS, when set, is the limit instead (0 turns the reference off).
    """
    setting = os.environ.get(LIMIT_SETTING, "").strip()
    if setting:
        try:
            return max(0.0, float(setting))
        except ValueError:
            pass
    return max(LIMIT_FLOOR, LIMIT_SHARE * max(0.0, float(training_seconds or 0.0)))


def _fit_within(recipe: Recipe, started: float, limit: float):
    """Give back (the fitted estimator, the recipe used), fitted on all the training rows; raise Skipped when the
    fit would take longer than the time left of limit.

    The estimate is honest rather than exact. Up to a few thousand rows any of these models fits in a second or
    two, so it is simply fitted. Above, the same model is fitted on two random subsamples (5 % of the rows, at
    least PROBE_ROWS, and twice that), each timed; their times, read as a fixed cost plus a cost per (row **
    growth) — growth 1 for boosting and linear models, 2 for a kernel support vector machine — are extended to
    all the rows, with a margin. A probe that stopped early (boosting on validation rows) is counted as if it had
    run all its rounds, so the estimate errs on the long side. A fit that has started is never interrupted.
    """
    n = len(recipe.y_train)
    small = max(PROBE_ROWS, int(n * PROBE_SHARE))
    if 3 * small <= n:
        rng = np.random.default_rng(0)
        times = []
        for size in (small, 2 * small):
            rows = np.sort(rng.choice(n, size, replace=False))
            start = time.perf_counter()
            probed = recipe.make().fit(_take(recipe.x_train, rows), recipe.y_train[rows],
                                       **recipe.fit_options(recipe.y_train[rows]))
            times.append((time.perf_counter() - start) / max(recipe.share_done(probed), 0.01))
        cost = [size ** recipe.growth for size in (small, 2 * small)]
        per_unit = (times[1] - times[0]) / (cost[1] - cost[0])
        if per_unit > 0:
            estimate = times[1] + per_unit * (n ** recipe.growth - cost[1])
        else:  # timing noise: scale the larger probe as if it had no fixed cost at all
            estimate = times[1] * n ** recipe.growth / cost[1]
        estimate *= SAFETY
        if estimate > limit - (time.perf_counter() - started):
            if recipe.fallback is not None:
                return _fit_within(recipe.fallback, started, limit)
            raise Skipped(f"It would take about {duration_words(estimate)} on {n:,} training rows, more than the "
                          f"{duration_words(limit)} it may take.")
    return recipe.make().fit(recipe.x_train, recipe.y_train, **recipe.fit_options(recipe.y_train)), recipe


def _take(x, rows: np.ndarray):
    return [x[i] for i in rows] if isinstance(x, list) else x[rows]


# ---------------------------------------------------------------- one recipe per kind of data


def _table_recipe(data, seed: int) -> Recipe:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    (x_train, y_train), (x_test, _) = data.arrays["train"], data.arrays["test"]
    booster = (HistGradientBoostingClassifier if data.preprocessing["task"] == "classification"
               else HistGradientBoostingRegressor)
    x_val, y_val = data.arrays["validation"]
    classifier, stops_early = booster is HistGradientBoostingClassifier, len(y_val) >= 10

    def validation(y_fitted: np.ndarray) -> dict[str, Any]:
        # Rounds stop when the run's validation rows stop improving, as a run's epochs can: on small tables the
        # default hundred rounds learn the noise (diabetes sample, 5 splits: RMSE 57.9 against 61.4). A label
        # the fitted rows lack cannot be scored on, so its validation rows are left out.
        if not stops_early:
            return {}
        if not classifier:
            return {"X_val": x_val, "y_val": y_val}
        known = np.isin(y_val, np.unique(y_fitted))
        return {"X_val": x_val[known], "y_val": y_val[known]}

    def make():
        return booster(max_iter=BOOSTING_ROUNDS, early_stopping=stops_early, random_state=seed)

    return Recipe("gradient boosting", x_train, y_train, x_test, make, growth=1.0, fit_options=validation,
                  share_done=lambda model: model.n_iter_ / BOOSTING_ROUNDS)


def shrink_pictures(x: np.ndarray, side: int = PIXELS) -> np.ndarray:
    """Give back (N, C, H, W) pictures averaged over square blocks to at most side × side: (N, C, h, w)."""
    n, channels, height, width = x.shape
    block = max(1, math.ceil(max(height, width) / side))
    height, width = height // block * block, width // block * block
    pooled = x[:, :, :height, :width].reshape(n, channels, height // block, block, width // block, block)
    return pooled.mean(axis=(3, 5), dtype=np.float32)


def _picture_recipe(data) -> Recipe:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    (x_train, y_train), (x_test, _) = data.arrays["train"], data.arrays["test"]
    x_train, x_test = shrink_pictures(x_train), shrink_pictures(x_test)
    pixels = f"{x_train.shape[3]} × {x_train.shape[2]} pixels"
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)  # one row per picture
    linear = Recipe(f"logistic regression on {pixels}", x_train, y_train, x_test,
                    lambda: LogisticRegression(max_iter=300), growth=1.0)
    # C=10 rather than the default 1 (digits sample, 3 splits: 0.991 against 0.985).
    return Recipe(f"a support vector machine on {pixels}", x_train, y_train, x_test,
                  lambda: SVC(C=10.0, gamma="scale"), growth=2.0, fallback=linear)


def _text_recipe(dataset: dict[str, Any], data) -> Recipe:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from engine.data.ingest import load_table
    from engine.data.prepare_tables import transform_target
    from engine.data.prepare_texts import text_splits
    from engine.data.text import WORD

    # The prepared arrays hold token ids cut to the run's length; the reference reads the whole texts of the same
    # rows, cut the same way as the run's split, and checks that their labels are the prepared ones.
    split = data.preprocessing.get("split")
    if not split:
        raise Skipped("The run's rows are not recorded with its data, so its texts cannot be found again.")
    frame, splits = text_splits(load_table(dataset), dataset["target"], split["validation_fraction"],
                                split["test_fraction"], split["seed"], folds=split.get("folds"),
                                fold=split.get("fold", 0))
    column = data.preprocessing["text_column"]
    parts = {}
    for name in ("train", "test"):
        rows = frame.iloc[splits[name]]
        labels = transform_target(rows[dataset["target"]], data.preprocessing)
        if not np.array_equal(labels, data.arrays[name][1]):
            raise Skipped("The texts of the run's rows could not be found again: the data set's files changed.")
        parts[name] = rows[column].fillna("").astype(str).tolist()
    x_train, y_train = parts["train"], data.arrays["train"][1]
    # Words seen in a single training text say little and make the vocabulary huge; small sets keep them.
    min_df = 2 if len(x_train) >= 2000 else 1

    def make():
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, token_pattern=WORD.pattern),
            LogisticRegression(C=TEXT_C, max_iter=1000))

    return Recipe("logistic regression on TF-IDF word and word-pair counts", x_train, y_train, parts["test"],
                  make, growth=1.0)


def bias_predictions(train_x: np.ndarray, train_r: np.ndarray, x: np.ndarray, n_users: int, n_items: int,
                     reg: float, passes: int = 10) -> np.ndarray:
    """Give back the ratings of pairs x predicted by the average rating plus regularised user and item offsets.

    The offsets are fitted on the training (user, item) pairs and ratings by a few alternating passes; reg acts
    as that many ratings of the average pulling each offset towards 0. Index 0, a user or item that the training
    ratings never saw, gets no offset.
    """
    mu = float(train_r.mean())
    users, items = train_x[:, 0], train_x[:, 1]
    bu, bi = np.zeros(n_users + 1), np.zeros(n_items + 1)
    n_u = np.bincount(users, minlength=n_users + 1)
    n_i = np.bincount(items, minlength=n_items + 1)
    for _ in range(passes):
        bi = np.bincount(items, train_r - mu - bu[users], minlength=n_items + 1) / (reg + n_i)
        bu = np.bincount(users, train_r - mu - bi[items], minlength=n_users + 1) / (reg + n_u)
    bu[0] = bi[0] = 0.0
    return mu + bu[x[:, 0]] + bi[x[:, 1]]


class RatingOffsets:
    """The average rating with user and item offsets, as an estimator; its regularisation is picked on validation."""

    def __init__(self, prep: dict[str, Any], validation: tuple[np.ndarray, np.ndarray]):
        self.prep, self.validation = prep, validation

    def stars(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) * self.prep["target_std"] + self.prep["target_mean"]

    def _predict(self, x: np.ndarray, reg: float) -> np.ndarray:
        predicted = bias_predictions(self.x, self.r, x, len(self.prep["users"]), len(self.prep["items"]), reg)
        return np.clip(predicted, self.prep["rating_min"], self.prep["rating_max"])

    def fit(self, x: np.ndarray, y: np.ndarray) -> RatingOffsets:
        self.x, self.r = np.asarray(x), self.stars(y)
        x_val, y_val = self.validation
        if len(y_val):
            truth = self.stars(y_val)
            errors = [np.mean((self._predict(x_val, reg) - truth) ** 2) for reg in RATING_REGULARISATION]
            self.reg = RATING_REGULARISATION[int(np.argmin(errors))]
        else:
            self.reg = 10.0
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._predict(np.asarray(x), self.reg)


def _ratings_recipe(data) -> Recipe:
    (x_train, y_train), (x_test, _) = data.arrays["train"], data.arrays["test"]
    validation = data.arrays["validation"]
    return Recipe("the average rating with user and item offsets", x_train, y_train, x_test,
                  lambda: RatingOffsets(data.preprocessing, validation), growth=1.0)


def _recipe(dataset: dict[str, Any], data, seed: int) -> Recipe:
    kind = data.preprocessing["kind"]
    if kind == "tabular":
        return _table_recipe(data, seed)
    if kind == "image":
        return _picture_recipe(data)
    if kind == "text":
        return _text_recipe(dataset, data)
    if kind == "ratings":
        return _ratings_recipe(data)
    raise Skipped(f"There is no classical model for {kind} data.")


MODEL_NAMES = {"tabular": "gradient boosting", "image": "a support vector machine on pixels",
               "text": "logistic regression on TF-IDF word and word-pair counts",
               "ratings": "the average rating with user and item offsets"}


# ---------------------------------------------------------------- the reference


def _score(recipe: Recipe, model, data) -> tuple[str, float]:
    """Give back (metric, value) of the fitted model on the test rows, in the units of the run's own report."""
    prep, y_test = data.preprocessing, data.arrays["test"][1]
    predicted = np.asarray(model.predict(recipe.x_test))
    if prep["task"] == "classification":
        return "accuracy", float(np.mean(predicted == y_test))
    if prep["kind"] == "ratings":  # already in the ratings' units, within their range
        truth = np.asarray(y_test, dtype=np.float64) * prep["target_std"] + prep["target_mean"]
        return "rmse", float(np.sqrt(np.mean((predicted - truth) ** 2)))
    errors = (predicted.astype(np.float64) - y_test) * prep["target_std"]
    return "rmse", float(np.sqrt(np.mean(errors ** 2)))


def fit_reference(dataset: dict[str, Any], data, limit_seconds: float = LIMIT_FLOOR, *,
                  seed: int | None = None, threads: int | None = None) -> dict[str, Any]:
    """Give back the classical reference of a prepared data set: a model fitted on data's training rows and
    scored on its test rows.

    dataset is the data set's row (texts read their raw texts from its files); data the run's PreparedData,
    whose preprocessing["split"] says how the rows were cut. Never raises. The result is one of
        {"model", "metric", "value", "seconds", "limit_seconds", "n_train", "n_test"}
            metric "accuracy" (share of test rows right) or "rmse" (in the target's units; ratings: in stars,
            predictions kept within the ratings' range, as the run's report does); seconds of fitting and scoring;
        {"model", "skipped", "seconds", "limit_seconds"}
            skipped: why in plain words, when it would take longer than limit_seconds or failed.
    seed defaults to the split's seed; threads caps the threads of scikit-learn's native code (None: all).
    """
    started = time.perf_counter()
    kind = data.preprocessing.get("kind", "")
    outcome: dict[str, Any] = {"model": MODEL_NAMES.get(kind, "a classical model")}
    limit = float(limit_seconds)
    if seed is None:
        seed = int(data.preprocessing.get("split", {}).get("seed", 0))
    try:
        if limit <= 0:
            raise Skipped(f"It is turned off on this machine ({LIMIT_SETTING}=0).")
        if not len(data.arrays["test"][1]):
            raise Skipped("The test split has no rows to score it on.")
        with _thread_limit(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes are not the user's concern here
            recipe = _recipe(dataset, data, seed)
            outcome["model"] = recipe.name
            model, used = _fit_within(recipe, started, limit)
            outcome["model"] = used.name
            metric, value = _score(used, model, data)
        if not math.isfinite(value):
            raise Skipped("Its score on the test rows is not a number.")
        outcome.update(metric=metric, value=value, n_train=int(len(used.y_train)),
                       n_test=int(len(data.arrays["test"][1])))
    except Skipped as skipped:
        outcome["skipped"] = str(skipped)
    except MemoryError:
        outcome["skipped"] = "This machine does not have the memory it needs."
    except UserError as error:  # already in plain words
        outcome["skipped"] = str(error)
    except Exception as error:  # a yardstick that breaks must never break the run
        outcome["skipped"] = f"Fitting it failed ({type(error).__name__}: {error})."
    outcome.update(seconds=round(time.perf_counter() - started, 3), limit_seconds=round(limit, 3))
    return outcome


def _thread_limit(threads: int | None):
    if not threads:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads))


# ---------------------------------------------------------------- in words


def _times_right(share: float, n: int) -> int:
    return round(share * 100) if n >= 100 else round(share * n)


def reference_sentence(reference: dict[str, Any] | None, report: dict[str, Any], preset: str | None = None) -> str:
    """Give back one plain sentence comparing the run's model with its classical reference on the same test rows;
    preset is the one the run started from, so that a run behind is pointed at a step it has not taken yet."""
    from engine.words import plain_number, times_in

    if not reference:
        return ("This run was evaluated before Trainyard fitted a simple classical model beside every run, so there "
                "is none to compare it with.")
    name = reference.get("model", "a classical model")
    if "skipped" in reference:
        return f"No simple classical model ({name}) was fitted to compare this run with. {reference['skipped']}"
    ours, theirs, n = report["metrics"].get(reference["metric"]), reference["value"], report["n_test"]
    rows = "test ratings" if report.get("task") == "rating" else "test rows"
    if reference["metric"] == "accuracy":
        opening = f"A simple classical model ({name}) is right {times_in(theirs, n)} on the same {rows}"
        ours_text = None if ours is None else str(_times_right(ours, n))
        if ours is not None and ours_text == str(_times_right(theirs, n)) and ours != theirs:
            opening = f"A simple classical model ({name}) is right {theirs:.1%} of the time on the same {rows}"
            ours_text = f"{ours:.1%}"
        ahead = None if ours is None else (ours > theirs) - (ours < theirs)
    else:
        def finer(value: float) -> str:  # two figures that read the same in plain numbers, told apart
            return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"

        # The typical error, not the average one: the run's own summary gives its average error (MAE) in words.
        shown = plain_number
        if ours is not None and plain_number(ours) == plain_number(theirs) and ours != theirs:
            shown = finer
        opening = f"A simple classical model ({name}) has a typical error (RMSE) of {shown(theirs)} on the same {rows}"
        ours_text = None if ours is None else shown(ours)
        ahead = None if ours is None else (ours < theirs) - (ours > theirs)
    if ahead is None:
        return opening + "."
    if ahead > 0:
        return f"{opening}; this model {ours_text}, so it is ahead."
    if ahead == 0:
        return f"{opening}, and so is this model."
    if preset == "Best":
        return (f"{opening}; this model {ours_text}. Try a search for better settings on the Sweeps page, or "
                "another model.")
    return f"{opening}; this model {ours_text}. Try the Best preset on the New run page, or more epochs."
