"""Preparing a text table: token ids of the data set's own vocabulary, or a pretrained model's word pieces, and
the rows a run's texts come from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.data.prepare_tables import _all_classes, _labelled, transform_target
from engine.data.prepared import PreparedData
from engine.data.splits import split_indices


def prepare_text(frame: pd.DataFrame, text_column: str, label_column: str,
                 splits: dict[str, np.ndarray], word_pieces: str | None = None) -> PreparedData:
    """Give back token-id arrays of a text table; the vocabulary and length come from the training rows.

    With word_pieces (a pretrained text model's name) the ids are that model's word pieces instead, as long as the
    data set's longest text (up to the model's limit), so that every run on the data set reads the same ids.
    """
    from engine.data.text import (
        WORD,
        choose_max_length,
        encode_pieces,
        encode_texts,
        fit_vocabulary,
        piece_tokenizer,
        word_counts,
    )

    train = frame.iloc[splits["train"]]
    if word_pieces:
        ids = encode_pieces(frame[text_column], word_pieces)  # as wide as the longest text needs
        prep = {"kind": "text", "task": "classification", "text_column": text_column, "target": label_column,
                "classes": sorted(train[label_column].astype(str).unique()), "word_pieces": word_pieces,
                "max_length": ids.shape[1], "padding_index": 0,
                "vocab_size": piece_tokenizer(word_pieces).get_vocab_size()}
        _all_classes(prep, frame[label_column])
        arrays = {split: (ids[rows], transform_target(frame[label_column].iloc[rows], prep))
                  for split, rows in splits.items()}
        return PreparedData(arrays=arrays, preprocessing=prep, rows=splits)
    vocabulary = fit_vocabulary(train[text_column])
    lengths = word_counts(train[text_column])
    prep: dict[str, Any] = {
        "kind": "text", "task": "classification", "text_column": text_column, "target": label_column,
        "classes": sorted(train[label_column].astype(str).unique()), "vocabulary": vocabulary,
        "max_length": choose_max_length(lengths[lengths > 0]), "lowercase": True, "word_pattern": WORD.pattern,
        "padding_index": 0, "unknown_index": 1,
    }
    _all_classes(prep, frame[label_column])
    lookup = {word: i + 2 for i, word in enumerate(vocabulary)}
    arrays = {}
    for split, rows in splits.items():
        part = frame.iloc[rows]
        arrays[split] = (encode_texts(part[text_column], lookup, prep["max_length"]),
                         transform_target(part[label_column], prep))
    return PreparedData(arrays=arrays, preprocessing=prep)


def text_splits(frame: pd.DataFrame, target: str, validation_fraction: float, test_fraction: float, seed: int, *,
                folds: int | None = None, fold: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Give back a text table's labelled rows and each split's row indices: the rows a run's texts come from."""
    frame = _labelled(frame, target)
    return frame, split_indices(frame[target].astype(str), len(frame), validation_fraction, test_fraction, seed,
                                folds=folds, fold=fold)
