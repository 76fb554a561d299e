"""Matrix factorisation for ratings: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from engine.models.configs import ModelConfigBase
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize


class MatrixFactorizationConfig(ModelConfigBase):
    """Matrix factorisation: a rating is a user's taste vector times an item's vector, plus their biases."""

    name: Literal["matrix_factorization"] = "matrix_factorization"
    factors: int = Field(32, ge=1, le=1024, title="Taste factors",
                         description="Numbers that describe each user's taste and each item's character.")
    regularisation: float = Field(
        10.0, ge=0.0, le=1000.0, title="Pull towards the average",
        description="How strongly users and items with few ratings are held near the average rating, as if each "
                    "had this many more average ratings; against over-fitting. 0 turns it off.")
    members: int = Field(1, ge=1, le=16, title="Factorisations averaged",
                         description="Train this many factorisations side by side, each from its own starting "
                                     "vectors, and average their ratings: closer guesses at that many times the work.")
    rated_items: bool = Field(
        True, title="Learn from what each person rated",
        description="Also learn each person's taste from which items they chose to rate, not only from the "
                    "ratings they gave. Usually closer guesses; slower when some people rated thousands of items.")


# The price of a step, fitted to Balanced's steps on 2 CPU cores with 1, 4 and 8 factorisations, with and without the
# rated items (lecture evaluations and 100,000 film ratings: each took 0.74–1.02 times its price). Adam's
# update of an embedding table costs about 0.3 of the calibration's unit a weight, far less than a layer's; the rated
# items cost about 9 units each, whatever their width, and their gathering and summing about 3.5 small steps more.
# Priced as numbers kept and weights updated, as before, four factorisations cost 3.7–3.9 times one; they took
# 1.5–1.9 times, being computed side by side.
UPDATE_WORK = 0.3
RATED_ITEM_WORK = 9.0
STEP_OVERHEAD, RATED_OVERHEAD = 2.0, 3.5


def matrix_factorization_size(config: MatrixFactorizationConfig, spec: dict[str, Any]) -> ModelSize:
    rows = spec["n_users"] + 1 + spec["n_items"] + 1
    width = config.members * config.factors
    parameters = rows * (width + config.members) + config.members
    kept = 3 * width + 4 * config.members  # numbers kept per rating: the two vectors, their product, the biases
    if not config.rated_items:
        return ModelSize(parameters, kept, work_per_weight=UPDATE_WORK, step_overhead=STEP_OVERHEAD)
    # While training, each item's second vector learns too, and each user in a batch brings the vectors of the
    # items they rated, once per batch.
    rated = rated_per_rating(spec)
    second = (spec["n_items"] + 1) * width
    return ModelSize(parameters, kept + rated * width, trained_parameters=parameters + second,
                     work_per_example=kept + RATED_ITEM_WORK * rated, work_per_weight=UPDATE_WORK,
                     step_overhead=STEP_OVERHEAD + RATED_OVERHEAD)


RATED_BATCH = 256  # the presets' batch of ratings


def rated_per_rating(spec: dict[str, Any]) -> float:
    """Give back the rated items read per training rating: each user in a batch of RATED_BATCH ratings reads the
    items they rated once, and a user with many ratings is in most batches (100,000 film ratings: 212 a rating).
    Without the counts of the data set, a typical 25."""
    counts = spec.get("user_counts")
    if not counts:
        return 25.0
    counts = np.asarray(counts, dtype=float)
    chance = 1.0 - (1.0 - counts / max(1.0, counts.sum())) ** RATED_BATCH  # that a user is in a batch
    return float((counts * chance).sum() / RATED_BATCH)


# Best averages four factorisations pulled from half to twice as hard; 3 seeds, test error against Balanced's one:
# MovieLens (100,000 film ratings) 0.868 against 0.873, lecture evaluations 1.190 against 1.192, the films sample
# 0.870 against 0.873. One factorisation of 64 factors trained 30 epochs (Best before) did worse than Balanced on the
# first two (0.875, 1.194): it got worse after about 20 epochs.
PRESETS = {"Quick": dict(factors=16), "Balanced": dict(factors=32), "Best": dict(factors=32, members=4)}

MODEL = ModelEntry(
    name="matrix_factorization", title="Matrix factorisation", config=MatrixFactorizationConfig,
    builder="engine.models.ratings:build_matrix_factorization", size=matrix_factorization_size,
    kinds=("ratings",), order=100, presets=PRESETS,
    description="Learns a taste vector per user and per item, from the ratings and from which items each user "
                "chose to rate, plus how generous each user is and how liked each item is.")
