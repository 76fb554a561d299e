"""Preparing ratings: [user, item] index pairs and standardised ratings, fitted on the training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.prepared import PreparedData


def prepare_ratings(frame: pd.DataFrame, roles: dict[str, str | None], splits: dict[str, np.ndarray]) -> PreparedData:
    """Give back [user, item] index pairs and standardised ratings; id lists and scale from the training rows."""
    from engine.data.ratings import encode_pairs, fit_ratings

    prep = fit_ratings(frame.iloc[splits["train"]], roles)
    arrays = {}
    for split, rows in splits.items():
        part = frame.iloc[rows]
        ratings = pd.to_numeric(part[roles["rating"]], errors="coerce").to_numpy(dtype=float)
        y = ((ratings - prep["target_mean"]) / prep["target_std"]).astype(np.float32)
        arrays[split] = (encode_pairs(part[roles["user"]], part[roles["item"]], prep), y)
    return PreparedData(arrays=arrays, preprocessing=prep)
