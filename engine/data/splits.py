"""Cutting a data set's rows into training, validation and test: seeded and stratified, or k folds sharing one
test split. Every kind of data set is split here."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from engine.errors import DataError


def _strata(labels: pd.Series | None) -> np.ndarray | None:
    """Give back labels fit for stratifying: classes with one example pooled, or None if impossible."""
    if labels is None:
        return None
    labels = labels.astype(str).reset_index(drop=True)
    counts = labels.value_counts()
    if len(counts) < 2:
        return None
    single = labels.isin(counts[counts < 2].index)
    if single.sum() == 1:
        labels = labels.where(~single, counts.index[0])
    elif single.any():
        labels = labels.where(~single, "\0pooled")
    return labels.to_numpy()


def _split(index: np.ndarray, size: float, seed: int, strata: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        return train_test_split(index, test_size=size, random_state=seed, stratify=strata)
    except ValueError:  # too few rows of some class for the share asked: split without stratifying
        return train_test_split(index, test_size=size, random_state=seed)


def split_indices(labels: pd.Series | None, n_rows: int, validation_fraction: float, test_fraction: float,
                  seed: int, folds: int | None = None, fold: int = 0) -> dict[str, np.ndarray]:
    """Give back sorted row indices for train, validation and test, stratified by labels when given.

    The same seed always gives the same split. With folds=k, the test rows stay as without folds and
    the other rows are cut into k stratified folds; fold i (0-based) is the validation split.
    """
    if n_rows < 3:
        raise DataError(f"Only {n_rows} rows: at least 3 are needed for training, validation and test.")
    labels = None if labels is None else labels.reset_index(drop=True)
    index = np.arange(n_rows)
    rest, test = _split(index, test_fraction, seed, _strata(labels))
    rest_labels = None if labels is None else labels.iloc[rest]
    if folds:
        folds, fold = int(folds), int(fold)
        if not 2 <= folds <= 20 or not 0 <= fold < folds:
            raise DataError(f"Choose between 2 and 20 folds and a fold from 1 to {folds}.")
        if folds > len(rest):
            raise DataError(f"{folds} folds need at least {folds} rows outside the test split.")
        strata = _strata(rest_labels)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed) if strata is not None else \
            KFold(folds, shuffle=True, random_state=seed)
        try:
            parts = list(splitter.split(rest, strata))
        except ValueError:
            parts = list(KFold(folds, shuffle=True, random_state=seed).split(rest))
        train, val = rest[parts[fold][0]], rest[parts[fold][1]]
    else:
        share = validation_fraction / (1.0 - test_fraction)
        train, val = _split(rest, share, seed + 1, _strata(rest_labels))
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def fold_splits(labels: pd.Series | None, n_rows: int, folds: int, test_fraction: float,
                seed: int) -> list[dict[str, np.ndarray]]:
    """Give back the k splits of k-fold cross-validation, all sharing one test split."""
    return [split_indices(labels, n_rows, 0.0, test_fraction, seed, folds=folds, fold=i) for i in range(folds)]
