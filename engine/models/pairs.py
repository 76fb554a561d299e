"""Tuning a pretrained encoder on pairs of the training examples before its last layer learns (SetFit, Tunstall et
al. 2022): pairs with the same label are pulled together and pairs with different labels pushed apart, so that the
encoder's view of an example already tells the labels apart when only a few examples per label exist.

Its figures and the drawing of the pairs are here, without torch, so that model sizes, presets and estimates can
price and describe it; engine.training.encoded.tune_on_pairs does the tuning.
"""

from __future__ import annotations

import numpy as np

# Each round pairs every training example with one of the same label and one of another (SetFit draws 20 rounds);
# at most MAX_PAIRS pairs in all, in steps of PAIRS_PER_STEP, so that tuning takes minutes on a processor.
PAIR_ROUNDS, MAX_PAIRS, PAIRS_PER_STEP = 20, 640, 16
PAIR_LEARNING_RATE = 2e-5  # SetFit's step for a sentence encoder; what it already knows is adjusted, not overwritten
PAIR_MAX_PIECES = 128  # tuning reads each text's first 128 word pieces; the features after it read the whole text
# The tuning's loss, step by step: a result of training (train_), drawn as the run's first curve while it tunes.
TUNING_LOSS = "train_pair_loss"


def pair_count(n_train: int) -> int:
    """Give back how many pairs tuning draws from n_train training examples."""
    return min(MAX_PAIRS, PAIR_ROUNDS * 2 * n_train)


def draw_pairs(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give back (first, second, same) for the pairs tuning learns from: positions of the examples and 1.0 where
    their labels are the same, 0.0 where they differ; shuffled, at most MAX_PAIRS. Labels with a single example
    pair only with other labels; a single label gives no pairs at all."""
    rng = np.random.default_rng(seed)
    if len(np.unique(labels)) < 2:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32)
    by_label = {value: np.flatnonzero(labels == value) for value in np.unique(labels)}
    first, second, same = [], [], []
    for _ in range(PAIR_ROUNDS):
        for position, label in enumerate(labels):
            alike = by_label[label][by_label[label] != position]
            if len(alike):
                first.append(position), second.append(rng.choice(alike)), same.append(1.0)
            first.append(position), second.append(rng.choice(np.flatnonzero(labels != label))), same.append(0.0)
    order = rng.permutation(len(first))[:MAX_PAIRS]
    return np.asarray(first)[order], np.asarray(second)[order], np.asarray(same, dtype=np.float32)[order]
