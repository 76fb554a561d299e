"""Model quality: every sample and every real data set trained from its presets, beside the classical reference.

For each data set, each preset and each seed, the data set is split and prepared as a run does (validation 15 %,
test 15 %, split seed = seed), the default model of its kind is trained from the preset's settings for that
data set (engine.presets, as `train --preset` and the New run page give them; training seed = seed) and scored
on the test split. The classical reference a finished run shows (engine.training.reference: gradient boosting
for tables, an SVC on shrunken pixels for pictures, TF-IDF + logistic regression for texts, user and item
offsets for ratings) is fitted on exactly the same rows.

The real data sets are the ones in ../shared/data (public packages; their README gives the classical baselines
on a plain 80/20 split). The samples are the ones the app offers.

    .venv/bin/python bench/model_quality.py                     # every set, Balanced and Best, 3 seeds
    .venv/bin/python bench/model_quality.py --real --presets Balanced
    .venv/bin/python bench/model_quality.py --only hpc_jobs --seeds 5
    .venv/bin/python bench/model_quality.py --file my_ratings.csv    # a file of your own, detected as on upload

Metric: test accuracy for classification (higher is better), test RMSE in the target's own units for
regression and ratings (lower is better). The last line reads `balanced_ahead=<n>/<total> best_ahead=<n>/<total>`
(a preset not run reads n/a).
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

SAMPLES = ("iris", "wine", "breast_cancer", "diabetes", "digits", "reviews", "films")
# Real data sets from public packages (../shared/data): file, and how a user would add it.
REAL_FOLDER = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
REAL = {
    "telco_churn": ("telco_churn.csv", dict(target="churn")),
    "credit_scoring": ("credit_scoring.csv", dict(target="Status")),
    "hpc_jobs": ("hpc_jobs.csv", dict(target="class")),
    "ames_housing": ("ames_housing.csv", dict(target="Sale_Price", task="regression")),
    "gss_wages": ("gss_wages.csv", dict(target="realrinc", task="regression")),
    "fine_food_reviews": ("fine_food_reviews.csv", dict(kind="text", target="label", text_column="text")),
    "tweets_by_device": ("tweets_by_device.csv", dict(kind="text", target="label", text_column="text")),
    "lecture_ratings": ("lecture_ratings.csv", dict(kind="ratings", target="rating",
                                                    roles={"user": "user", "item": "item"})),
    "mnist_5k": ("mnist_5k.zip", dict(kind="image")),
}
DATASETS = SAMPLES + tuple(REAL)
VALIDATION_FRACTION = 0.15
TEST_FRACTION = 0.15
REFERENCE_SECONDS = 600.0  # the bench lets every reference finish


def add(key: str) -> dict:
    """Give back the stored data set for key (a sample, a real set or a file's path), added as a user would add it."""
    from engine.data.ingest import add_dataset
    from engine.data.samples import add_sample

    if key in SAMPLES:
        return add_sample(key)
    if key not in REAL:  # a file of one's own, its kind and columns found as on the Data sets page
        return add_dataset(Path(key), name=Path(key).stem)
    file_name, how = REAL[key]
    if not (REAL_FOLDER / file_name).exists():
        raise SystemExit(f"{REAL_FOLDER / file_name} is not there: the real data sets live in ../shared/data.")
    return add_dataset(REAL_FOLDER / file_name, name=key, **how)


def trainyard_score(dataset: dict, data, name: str, seed: int, preset: str | None) -> tuple[float, float, int, int]:
    """Train model name from preset (None: bare defaults); give back (test metric, seconds, epochs set, epochs
    trained)."""
    import torch

    from engine.config import validate_run_config
    from engine.models.registry import build_model
    from engine.presets import starting_config
    from engine.training.encoded import trainable
    from engine.training.loop import train

    changes = {"training": {"seed": seed, "device": "cpu"},
               "split": {"seed": seed, "validation_fraction": VALIDATION_FRACTION, "test_fraction": TEST_FRACTION}}
    raw = starting_config(dataset, name, preset, changes) if preset else {"model": {"name": name}, **changes}
    config = validate_run_config(raw)
    model = build_model(config.model, data.spec, seed=seed)
    start = time.perf_counter()
    part, part_data = trainable(model, data, torch.device("cpu"), dataset, seed=seed)
    state, final = train(config, part_data, part, torch.device("cpu"), [])
    seconds = time.perf_counter() - start
    metric = final["test_accuracy"] if "test_accuracy" in final else final["test_rmse"]
    return float(metric), seconds, config.training.epochs, state.epoch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    parser.add_argument("--only", nargs="*", choices=DATASETS, default=None, help="just these data sets")
    parser.add_argument("--file", nargs="*", default=[],
                        help="also (or, without --only, --real or --samples, only) these files of your own")
    parser.add_argument("--real", action="store_true", help="just the real data sets of ../shared/data")
    parser.add_argument("--samples", action="store_true", help="just the app's samples")
    parser.add_argument("--presets", nargs="*", choices=["none", "Quick", "Balanced", "Best"],
                        default=["Balanced", "Best"],
                        help="settings to start from (default Balanced and Best); 'none' is each config's bare defaults")
    parser.add_argument("--model", default=None,
                        help="train this model (of the data sets' kind) instead of the one suggested for each set")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    keys = args.only or (tuple(REAL) if args.real else SAMPLES if args.samples else () if args.file else DATASETS)
    keys = (*keys, *(str(Path(path).resolve()) for path in args.file))

    home = tempfile.mkdtemp(prefix="trainyard-quality-")
    os.environ["TRAINYARD_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    import torch

    torch.set_num_threads(max(1, min(os.cpu_count() or 1, int(os.environ.get("TRAINYARD_THREADS", "0")) or 8)))

    from db.session import migrate
    from engine.data.prepare import prepare_dataset
    from engine.models.registry import data_options
    from engine.presets import suggested_model
    from engine.training.reference import fit_reference

    migrate()
    print(f"Seeds {seeds} (split seed and training seed alike); validation {VALIDATION_FRACTION:.0%}, "
          f"test {TEST_FRACTION:.0%}; presets {', '.join(args.presets)} from engine.presets; "
          f"{torch.get_num_threads()} threads.", flush=True)
    rows, ahead = [], {preset: [0, 0] for preset in args.presets}
    for key in keys:
        dataset = add(key)
        key = key if key in SAMPLES or key in REAL else dataset["name"]
        model_name = args.model or suggested_model(dataset)
        references: list[dict] = []
        for seed in seeds:
            data = prepare_dataset(dataset, VALIDATION_FRACTION, TEST_FRACTION, seed)
            references.append(fit_reference(dataset, data, REFERENCE_SECONDS, seed=seed))
        skipped = [r["skipped"] for r in references if "skipped" in r]
        if skipped:  # nothing to hold the set against: said, and the other sets go on
            print(f"  {key}: left out, the reference was skipped: {skipped[0]}", flush=True)
            continue
        theirs = [r["value"] for r in references]
        higher = dataset["task"] == "classification"
        for preset in args.presets:
            ours, seconds, epochs = [], [], ""
            for seed in seeds:
                data = prepare_dataset(dataset, VALIDATION_FRACTION, TEST_FRACTION, seed,
                                       **data_options(model_name))
                score, spent, set_epochs, trained = trainyard_score(
                    dataset, data, model_name, seed, None if preset == "none" else preset)
                ours.append(score)
                seconds.append(spent)
                epochs = f"{trained}/{set_epochs}" if not epochs else epochs + f", {trained}/{set_epochs}"
                print(f"  {key} {preset} seed {seed}: {model_name} {score:.4f} ({spent:.1f} s, {trained} of "
                      f"{set_epochs} epochs) vs {references[seed]['model']} {theirs[seed]:.4f} "
                      f"({references[seed]['seconds']:.1f} s)", flush=True)
            is_ahead = np.mean(ours) > np.mean(theirs) if higher else np.mean(ours) < np.mean(theirs)
            margin = (np.mean(ours) - np.mean(theirs)) if higher else (np.mean(theirs) - np.mean(ours))
            ahead[preset][0] += int(is_ahead)
            ahead[preset][1] += 1
            metric = "accuracy" if higher else ("RMSE (stars)" if dataset["kind"] == "ratings" else "RMSE")
            rows.append((key, preset, model_name, metric, f"{np.mean(ours):.4f} ± {np.std(ours):.4f}",
                         f"{np.mean(seconds):.0f} s", references[0]["model"],
                         f"{np.mean(theirs):.4f} ± {np.std(theirs):.4f}",
                         f"{np.mean([r['seconds'] for r in references]):.1f} s",
                         ("yes" if is_ahead else "NO") + f" ({margin:+.4g})", epochs))

    header = ("data set", "preset", "model", "metric", "Trainyard", "train/seed", "reference", "reference ",
              "ref time", "ahead? (margin)", "epochs trained/set")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    print("(mean ± std over seeds; accuracy: higher is better, RMSE: lower is better; a tie is not ahead)")

    def count(preset: str) -> str:
        return f"{ahead[preset][0]}/{ahead[preset][1]}" if preset in ahead else "n/a"

    print(f"balanced_ahead={count('Balanced')} best_ahead={count('Best')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
