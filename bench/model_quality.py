"""Model quality: every sample data set trained with its default model, next to a scikit-learn baseline.

For each sample (iris, wine, breast_cancer, diabetes, digits, reviews, films) and each seed, the data set is
split and prepared as a run does (validation 15 %, test 15 %, split seed = seed), the default model of its
kind is trained with its default settings (training seed = seed) and scored on the test split. The baseline
sees exactly the same train/validation/test rows:

- tables and digits: an RBF support-vector classifier (classification) or gradient boosting (regression) on
  the same preprocessed feature matrix; C or the number of trees is picked on the validation split;
- reviews: TF-IDF over words and word pairs of the raw review text + logistic regression, C picked on the
  validation split;
- films: global mean + regularised item bias + regularised user bias (a few alternating passes over the
  training ratings), the regularisation picked on the validation split; unknown users or items get no bias.

    .venv/bin/python bench/model_quality.py            # 3 seeds, default epochs (digits: fewer, see below)
    .venv/bin/python bench/model_quality.py --quick    # 1 seed, fewer epochs: a fast check

Metric: test accuracy for classification (higher is better), test RMSE in the target's own units for
regression and ratings (lower is better). The last line reads `ahead=<n>/<total>`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits", "reviews", "films")
VALIDATION_FRACTION = 0.15
TEST_FRACTION = 0.15
# Epochs per data set where the bench departs from the model's default (None: the default a user gets).
# resnet_small on 1,257 training images of 32×32 costs most of the bench's time on a CPU.
EPOCHS = {"digits": 10}
QUICK_EPOCHS = {"digits": 3, "reviews": 10, "films": 10}


# ---------------------------------------------------------------- Trainyard


def trainyard_score(dataset: dict, data, seed: int, epochs: int | None,
                    preset: str | None = None) -> tuple[str, float, float, int]:
    """Train the default model of dataset's kind on data; give back (model name, test metric, seconds, epochs)."""
    import torch

    from engine.config import validate_run_config
    from engine.models.registry import build_model, default_model
    from engine.training.loop import train

    name = default_model(dataset["kind"])
    raw = {"model": {"name": name}, "training": {"seed": seed, "device": "cpu"},
           "split": {"seed": seed, "validation_fraction": VALIDATION_FRACTION, "test_fraction": TEST_FRACTION}}
    if preset:  # the settings the New run page starts from
        from dashboard.components.presets import preset_settings

        training, model_settings = preset_settings(dataset["kind"], name, preset)
        raw["training"].update(training)
        raw["model"].update(model_settings)
    if epochs is not None:
        raw["training"]["epochs"] = epochs
    config = validate_run_config(raw)
    model = build_model(config.model, data.spec, seed=seed)
    start = time.perf_counter()
    _, final = train(config, data, model, torch.device("cpu"), [])
    seconds = time.perf_counter() - start
    metric = final["test_accuracy"] if "test_accuracy" in final else final["test_rmse"]
    return name, float(metric), seconds, config.training.epochs


# ---------------------------------------------------------------- baselines


def pick_on_validation(candidates, fit_score, higher_is_better: bool):
    """Give back the candidate whose fitted model scores best on validation."""
    scored = [(fit_score(c), i) for i, c in enumerate(candidates)]
    best = max(scored) if higher_is_better else min(scored)
    return candidates[best[1]]


def table_baseline(data, task: str, target_std: float, seed: int) -> tuple[str, float]:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.svm import SVC

    (xt, yt), (xv, yv), (xs, ys) = ((x.reshape(len(x), -1), y)  # images: one row of pixels each
                                    for x, y in (data.arrays[s] for s in ("train", "validation", "test")))
    if task == "classification":
        def fit(c):
            return SVC(C=c, kernel="rbf", gamma="scale").fit(xt, yt)

        c = pick_on_validation([0.3, 1.0, 3.0, 10.0, 30.0], lambda c: fit(c).score(xv, yv), True)
        return "SVC (rbf)", float(fit(c).score(xs, ys))

    def fit(n):
        return GradientBoostingRegressor(n_estimators=n, learning_rate=0.05, max_depth=2, subsample=0.8,
                                         random_state=seed).fit(xt, yt)

    def rmse(model, x, y):
        return float(np.sqrt(np.mean((model.predict(x) - y) ** 2)) * target_std)

    n = pick_on_validation([50, 100, 200, 400], lambda n: rmse(fit(n), xv, yv), False)
    return "gradient boosting", rmse(fit(n), xs, ys)


def text_baseline(dataset: dict, data, seed: int) -> tuple[str, float]:
    """TF-IDF + logistic regression on the raw texts of exactly the rows of each split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from engine.data.ingest import load_table
    from engine.data.prepare import split_indices

    target, column = dataset["target"], dataset["schema"]["text_column"]
    frame = load_table(dataset)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    labels = frame[target].astype(str)
    splits = split_indices(labels, len(frame), VALIDATION_FRACTION, TEST_FRACTION, seed)
    classes = data.preprocessing["classes"]
    parts = {}
    for split, rows in splits.items():
        y = np.array([classes.index(v) for v in labels.iloc[rows]])
        if not np.array_equal(y, data.arrays[split][1]):
            raise SystemExit(f"The {split} rows rebuilt for the text baseline differ from the prepared ones.")
        parts[split] = (frame[column].iloc[rows].fillna("").astype(str).tolist(), y)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    xt = vectorizer.fit_transform(parts["train"][0])
    xv, xs = vectorizer.transform(parts["validation"][0]), vectorizer.transform(parts["test"][0])

    def fit(c):
        return LogisticRegression(C=c, max_iter=2000).fit(xt, parts["train"][1])

    c = pick_on_validation([0.3, 1.0, 3.0, 10.0, 30.0], lambda c: fit(c).score(xv, parts["validation"][1]), True)
    return "TF-IDF + logistic regression", float(fit(c).score(xs, parts["test"][1]))


def bias_predictions(train_x, train_r, x, n_users: int, n_items: int, reg: float, passes: int = 10):
    """Fit global mean + item bias + user bias with shrinkage reg; give back predictions for pairs x."""
    mu = train_r.mean()
    users, items = train_x[:, 0], train_x[:, 1]
    bu, bi = np.zeros(n_users + 1), np.zeros(n_items + 1)
    n_u = np.bincount(users, minlength=n_users + 1)
    n_i = np.bincount(items, minlength=n_items + 1)
    for _ in range(passes):
        bi = np.bincount(items, train_r - mu - bu[users], minlength=n_items + 1) / (reg + n_i)
        bu = np.bincount(users, train_r - mu - bi[items], minlength=n_users + 1) / (reg + n_u)
    bu[0] = bi[0] = 0.0  # index 0: a user or item not seen in training
    return mu + bu[x[:, 0]] + bi[x[:, 1]]


def ratings_baseline(data) -> tuple[str, float]:
    """User/item bias on the training split's (user, item, rating) triples, in stars."""
    prep, spec = data.preprocessing, data.spec
    mean, std = prep["target_mean"], prep["target_std"]
    (xt, yt), (xv, yv), (xs, ys) = (data.arrays[s] for s in ("train", "validation", "test"))
    stars = {name: y.astype(np.float64) * std + mean for name, y in (("t", yt), ("v", yv), ("s", ys))}

    def rmse(reg, x, r):
        pred = bias_predictions(xt, stars["t"], x, spec["n_users"], spec["n_items"], reg)
        return float(np.sqrt(np.mean((pred - r) ** 2)))

    reg = pick_on_validation([1.0, 3.0, 5.0, 10.0, 20.0, 40.0], lambda g: rmse(g, xv, stars["v"]), False)
    return "user/item bias", rmse(reg, xs, stars["s"])


# ---------------------------------------------------------------- bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed and fewer epochs: a fast check")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3, 1 with --quick)")
    parser.add_argument("--only", nargs="*", choices=DATASETS, default=None, help="just these data sets")
    parser.add_argument("--preset", choices=["none", "Quick", "Balanced", "Best"], default="Balanced",
                        help="settings a user starts from on the New run page (default Balanced); "
                             "'none' uses each config's bare defaults")
    args = parser.parse_args()
    seeds = list(range(args.seeds if args.seeds else (1 if args.quick else 3)))
    epochs_for = QUICK_EPOCHS if args.quick else EPOCHS

    home = tempfile.mkdtemp(prefix="trainyard-quality-")
    os.environ["TRAINYARD_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    import torch

    torch.set_num_threads(max(1, min(os.cpu_count() or 1, int(os.environ.get("TRAINYARD_THREADS", "0")) or 8)))

    from db.session import migrate
    from engine.data.prepare import prepare_dataset
    from engine.data.samples import add_sample

    migrate()
    settings = ("each config's bare defaults" if args.preset == "none"
                else f"the '{args.preset}' settings the New run page starts from")
    print(f"Seeds {seeds} (split seed and training seed alike); validation {VALIDATION_FRACTION:.0%}, "
          f"test {TEST_FRACTION:.0%}; {settings}; epochs as shown; {torch.get_num_threads()} threads.")
    rows, ahead, total = [], 0, 0
    for key in args.only or DATASETS:
        dataset = add_sample(key)
        epochs = epochs_for.get(key)
        ours, theirs, seconds, model_name, baseline_name = [], [], 0.0, "", ""
        for seed in seeds:
            data = prepare_dataset(dataset, VALIDATION_FRACTION, TEST_FRACTION, seed)
            model_name, score, spent, trained_epochs = trainyard_score(dataset, data, seed, epochs,
                                                       None if args.preset == "none" else args.preset)
            seconds += spent
            if dataset["kind"] in ("tabular", "image"):
                baseline_name, base = table_baseline(data, dataset["task"],
                                                     data.preprocessing.get("target_std", 1.0), seed)
            elif dataset["kind"] == "text":
                baseline_name, base = text_baseline(dataset, data, seed)
            else:
                baseline_name, base = ratings_baseline(data)
            ours.append(score)
            theirs.append(base)
            print(f"  {key} seed {seed}: {model_name} {score:.4f} vs {baseline_name} {base:.4f} "
                  f"({spent:.1f} s training)", flush=True)
        higher = dataset["task"] == "classification"
        metric = "accuracy" if higher else ("RMSE (stars)" if dataset["kind"] == "ratings" else "RMSE")
        is_ahead = np.mean(ours) > np.mean(theirs) if higher else np.mean(ours) < np.mean(theirs)
        ahead += int(is_ahead)
        total += 1
        epochs_text = f"{trained_epochs} ep"
        rows.append((key, f"{model_name} ({epochs_text})", baseline_name, metric,
                     f"{np.mean(ours):.4f} ± {np.std(ours):.4f}", f"{np.mean(theirs):.4f} ± {np.std(theirs):.4f}",
                     "yes" if is_ahead else ("tie" if np.isclose(np.mean(ours), np.mean(theirs)) else "NO"), f"{seconds / len(seeds):.0f} s"))

    header = ("data set", "model", "baseline", "metric", "Trainyard", "baseline", "ahead?", "train/seed")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    print("(mean ± std over seeds; accuracy: higher is better, RMSE: lower is better; a tie is not ahead)")
    print(f"ahead={ahead}/{total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
