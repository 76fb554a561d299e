"""k-fold cross-validation: train k models, each holding out a different fold of the rows outside the test
split, and report every fold's scores with their mean ± standard deviation.

The data side cuts the folds (engine.data.prepare, `folds=k, fold=i`) and fits the preprocessing on each
fold's own training rows, so no fold's model sees anything of the rows it is scored on. Each model is scored
on its held-out fold (the cross-validation estimate) and on the shared test split.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from engine.training.callbacks import Callback
from engine.words import plain_number

CROSSVAL_FILE = "crossval.json"
PERCENT_KEYS = {"accuracy", "f1_macro", "precision_macro", "recall_macro"}
HEADLINE_KEYS = ("accuracy", "f1_macro", "rmse", "mae")


class FoldProgress(Callback):
    """Reports the progress of all folds together as one number from 0 to 1."""

    def __init__(self, report: Callable[[float], None], fold: int, folds: int):
        self.report, self.fold, self.folds = report, fold, folds

    def on_epoch_end(self, state, logs):
        self.report((self.fold + state.progress) / self.folds)


def _shown(key: str, value: float) -> str:
    return f"{value:.1%}" if key in PERCENT_KEYS else plain_number(value, 4)


def summarise(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Give back the mean and standard deviation over the folds of each held-out score, and a sentence."""
    keys = [k for k in per_fold[0] if k not in ("fold", "n_fold", "n_test") and not k.startswith("test_")
            and all(k in f for f in per_fold)]
    values = {k: np.array([f[k] for f in per_fold], dtype=float) for k in keys}
    mean = {k: float(v.mean()) for k, v in values.items()}
    std = {k: float(v.std()) for k, v in values.items()}  # over the folds, as scikit-learn's examples report it
    summary = []
    headline = next((k for k in HEADLINE_KEYS if k in values), None)
    if headline:
        low, high = values[headline].min(), values[headline].max()
        summary.append(f"Across {len(per_fold)} folds, the {headline.replace('_', ' ')} on rows each model never saw "
                       f"was {_shown(headline, mean[headline])} ± {_shown(headline, std[headline])} (from "
                       f"{_shown(headline, low)} to {_shown(headline, high)}).")
        spread = std[headline] / abs(mean[headline]) if mean[headline] else 0.0
        summary.append("The folds agree closely, so this figure can be trusted." if spread < 0.05 else
                       "The folds disagree noticeably: the score depends on which rows the model sees; more data "
                       "would make it steadier.")
    return {"folds": len(per_fold), "per_fold": per_fold, "mean": mean, "std": std, "summary": summary}


def cross_validate(config, dataset: dict[str, Any], folds: int, device,
                   callbacks: Callable[[int], list[Callback]] = lambda fold: []) -> dict[str, Any]:
    """Train a fresh model per fold and give back each fold's scores with their mean ± std."""
    import torch

    from engine.data.prepare import prepare_dataset
    from engine.models.registry import build_model, data_options
    from engine.training.encoded import trainable
    from engine.training.evaluate import evaluate
    from engine.training.loop import train

    split = config.split
    per_fold = []
    for fold in range(folds):
        data = prepare_dataset(dataset, split.validation_fraction, split.test_fraction, split.seed,
                               folds=folds, fold=fold, **data_options(config.model.name))
        model = build_model(config.model, data.spec, seed=config.training.seed + fold)
        part, data = trainable(model, data, device, dataset, seed=config.training.seed + fold)
        _, final = train(config, data, part, device, callbacks(fold))
        x_fold, y_fold = (torch.from_numpy(a) for a in data.arrays["validation"])
        # evaluate() gives precision, recall and F1 for the "test" prefix only; here they describe the fold.
        held_out = evaluate(part, x_fold, y_fold, data.preprocessing["task"], "test",
                            data.preprocessing.get("target_std", 1.0), device=device)
        scores = {k.removeprefix("test_"): float(v) for k, v in held_out.items() if np.isfinite(v)}
        scores.pop("loss", None)
        tests = {k: float(v) for k, v in final.items() if k.startswith("test_") and k != "test_loss"
                 and np.isfinite(v)}
        per_fold.append({"fold": fold + 1, "n_fold": int(len(y_fold)),
                         "n_test": int(len(data.arrays["test"][1])), **scores, **tests})
    return summarise(per_fold)


def cross_validation(config, dataset: dict[str, Any], device, callbacks: list[Callback],
                     progress: Callable[[float], None] | None = None) -> dict[str, Any] | None:
    """Cross-validate a run's settings with config.split.folds folds (progress hears the share of all folds done);
    give back the result, or None when the run asks for no folds. Nothing is recorded here: the runner does."""
    folds = getattr(config.split, "folds", 1) or 1
    if folds < 2:
        return None

    def fold_callbacks(fold: int) -> list[Callback]:
        return [*callbacks, *([FoldProgress(progress, fold, folds)] if progress else [])]

    return cross_validate(config, dataset, folds, device, fold_callbacks)
