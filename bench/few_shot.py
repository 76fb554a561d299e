"""Few-shot: test accuracy and macro-F1 against training examples per class, for the from-scratch default, the
classical reference and each pretrained way, on the real picture and text sets of ../shared/data.

For each seed the data set is split as a run splits it (70 / 15 / 15); the training and validation splits are then
cut down to the given number of examples per class (validation in the same proportion, at least one), and every
method is scored on the whole test split. Pretrained features are computed once per data set, as runs do.

    python bench/few_shot.py                       # every set, sizes 4 8 16 32 64 all, 3 seeds
    python bench/few_shot.py --only mnist_5k --sizes 4 8 16 --seeds 1

The last line reads `transfer_vs_classical_at_8=<ratio>`: the best pretrained way's mean accuracy at 8 examples per
class over the classical reference's, on the sets that have a pretrained way.
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

from bench.model_quality import REAL, VALIDATION_FRACTION, TEST_FRACTION, add  # noqa: E402

SETS = ("mnist_5k", "fine_food_reviews", "tweets_by_device")
SIZES = ("4", "8", "16", "32", "64", "all")
# Pretrained ways per kind of data: (label, model settings).
PRETRAINED = {"image": [("pretrained, last layer only", {"name": "efficientnet_lite0", "train_part": "head"})],
              "text": [("pretrained sentence vector only", {"name": "minilm", "train_part": "head", "word_vectors": 0}),
                       ("pretrained sentence vector + word pieces", {"name": "minilm", "train_part": "head"}),
                       ("pretrained, tuned on pairs of the texts", {"name": "minilm", "train_part": "pairs"})]}


def per_class(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Give back positions of at most k examples of each class, drawn with rng, in their original order."""
    chosen = [rng.permutation(np.flatnonzero(labels == value))[:k] for value in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def cut(data, size: str, rng: np.random.Generator):
    """Give back a copy of data whose training and validation splits keep size examples per class ('all': all)."""
    from engine.data.prepared import PreparedData

    if size == "all":
        return data, None
    k = int(size)
    keep = {"train": per_class(data.arrays["train"][1], k, rng),
            "validation": per_class(data.arrays["validation"][1], max(1, round(k * VALIDATION_FRACTION / 0.7)), rng)}
    keep["test"] = np.arange(len(data.arrays["test"][1]))
    arrays = {split: (x[keep[split]], y[keep[split]]) for split, (x, y) in data.arrays.items()}
    rows = {split: data.rows[split][keep[split]] for split in keep} if data.rows is not None else None
    return PreparedData(arrays=arrays, preprocessing=data.preprocessing, rows=rows), keep


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(y_true, y_pred)), float(f1_score(y_true, y_pred, average="macro"))


def ours(dataset: dict, data, model: dict, seed: int) -> tuple[float, float, float]:
    """Train model on data from the Balanced preset; give back (accuracy, macro-F1, seconds)."""
    import torch

    from engine.config import validate_run_config
    from engine.models.registry import build_model
    from engine.presets import starting_config
    from engine.training.encoded import trainable
    from engine.training.loop import train

    n_train = len(data.arrays["train"][1])
    sized = {**dataset, "n_rows": max(1, round(n_train / 0.7))}  # presets fit the rows the run really has
    raw = starting_config(sized, model["name"], "Balanced", {"training": {"seed": seed, "device": "cpu"},
                                                             "split": {"seed": seed}})
    raw["model"] = {**raw["model"], **model}
    config = validate_run_config(raw)
    start = time.perf_counter()
    network = build_model(config.model, data.spec, seed=seed)
    part, part_data = trainable(network, data, torch.device("cpu"), dataset, seed=seed)
    train(config, part_data, part, torch.device("cpu"), [])
    with torch.no_grad():
        x_test, y_test = part_data.arrays["test"]
        predicted = np.concatenate([part.eval()(torch.from_numpy(x_test[i:i + 512])).argmax(-1).numpy()
                                    for i in range(0, len(x_test), 512)])
    return (*scores(y_test, predicted), time.perf_counter() - start)


def classical(dataset: dict, data, keep) -> tuple[float, float, float]:
    """The classical reference on the same rows, as runs fit it: an SVC on shrunken pixels, or TF-IDF + logistic
    regression; gives back (accuracy, macro-F1, seconds)."""
    start = time.perf_counter()
    y_train, y_test = data.arrays["train"][1], data.arrays["test"][1]
    if dataset["kind"] == "image":
        from sklearn.svm import SVC

        from engine.training.reference import shrink_pictures

        x_train, x_test = (shrink_pictures(data.arrays[split][0]) for split in ("train", "test"))
        model = SVC(C=10.0, gamma="scale").fit(x_train.reshape(len(x_train), -1), y_train)
        predicted = model.predict(x_test.reshape(len(x_test), -1))
        return (*scores(y_test, predicted), time.perf_counter() - start)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from engine.data.ingest import load_table
    from engine.data.prepare_texts import text_splits

    split = data.preprocessing["split"]
    frame, splits = text_splits(load_table(dataset), dataset["target"], split["validation_fraction"],
                                split["test_fraction"], split["seed"])
    texts = frame[dataset["schema"]["text_column"]].astype(str).to_numpy()
    train_rows = splits["train"] if keep is None else splits["train"][keep["train"]]
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=1 if keep is not None else 2, sublinear_tf=True)
    model = LogisticRegression(C=10.0, max_iter=2000).fit(vectoriser.fit_transform(texts[train_rows]), y_train)
    predicted = model.predict(vectoriser.transform(texts[splits["test"]]))
    return (*scores(y_test, predicted), time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=SETS, default=list(SETS))
    parser.add_argument("--sizes", nargs="*", choices=SIZES, default=list(SIZES))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    os.environ["TRAINYARD_HOME"] = tempfile.mkdtemp(prefix="trainyard-few-shot-")
    os.environ.pop("DATABASE_URL", None)
    import torch

    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
    from db.session import migrate
    from engine.data.prepare import prepare_dataset
    from engine.config import RunConfig
    from engine.models.registry import MODELS, build_model, data_options, default_model
    from engine.training.encoded import trainable

    migrate()
    print(f"Examples per class {', '.join(args.sizes)}; seeds {args.seeds}; test split {TEST_FRACTION:.0%} of each "
          f"set, whole; Balanced preset; {torch.get_num_threads()} threads.", flush=True)
    at_eight: dict[str, list[float]] = {"pretrained": [], "classical": []}
    for key in args.only:
        dataset = add(key)
        kind = dataset["kind"]
        methods = [("from scratch, " + MODELS[default_model(kind)].title, {"name": default_model(kind)})]
        methods += [(label, model) for label, model in PRETRAINED[kind] if MODELS[model["name"]].available]
        print(f"\n{key} ({REAL[key][0]}, {kind}): accuracy / macro-F1, mean of {args.seeds} seeds (seconds)")
        header = ["per class", "classical reference"] + [label for label, _ in methods]
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for _, model in methods[1:]:  # pretrained features of every example once, as the first run computes them
            if model.get("train_part") == "pairs":
                continue  # tuned on each run's own training texts: its features are the run's
            full = prepare_dataset(dataset, VALIDATION_FRACTION, TEST_FRACTION, 0, **data_options(model["name"]))
            config = RunConfig.model_validate({"model": model})
            trainable(build_model(config.model, full.spec), full, torch.device("cpu"), dataset)
        for size in args.sizes:
            results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in header[1:]}
            for seed in range(args.seeds):
                prepared: dict[tuple, tuple] = {}

                def cut_for(model_name: str):
                    """The seed's split prepared as model_name reads it, cut to size: the same examples for all."""
                    options = data_options(model_name)
                    if tuple(options.items()) not in prepared:
                        full = prepare_dataset(dataset, VALIDATION_FRACTION, TEST_FRACTION, seed, **options)
                        prepared[tuple(options.items())] = cut(full, size, np.random.default_rng(seed))
                    return prepared[tuple(options.items())]

                data, keep = cut_for(default_model(kind))
                results["classical reference"].append(classical(dataset, data, keep))
                for label, model in methods:
                    results[label].append(ours(dataset, cut_for(model["name"])[0], model, seed))
            cells = []
            for label in header[1:]:
                values = np.array(results[label], dtype=float)
                cells.append(f"{np.nanmean(values[:, 0]):.3f} / {np.nanmean(values[:, 1]):.3f} "
                             f"({np.nanmean(values[:, 2]):.0f} s)")
            print(f"| {size} | " + " | ".join(cells) + " |", flush=True)
            if size == "8" and PRETRAINED[kind]:
                best = max(np.mean([r[0] for r in results[label]]) for label, _ in methods[1:])
                at_eight["pretrained"].append(best)
                at_eight["classical"].append(float(np.mean([r[0] for r in results["classical reference"]])))
    transfer, reference = at_eight["pretrained"], at_eight["classical"]
    ratio = np.mean(transfer) / np.mean(reference) if transfer else float("nan")
    print(f"\ntransfer_vs_classical_at_8={ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
