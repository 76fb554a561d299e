"""Matrix factorisation for ratings: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

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


def matrix_factorization_size(config: MatrixFactorizationConfig, spec: dict[str, Any]) -> ModelSize:
    rows = spec["n_users"] + 1 + spec["n_items"] + 1
    return ModelSize(rows * (config.factors + 1) + 1, 3 * config.factors + 4)


PRESETS = {"Quick": dict(factors=16), "Balanced": dict(factors=32), "Best": dict(factors=64)}

MODEL = ModelEntry(
    name="matrix_factorization", title="Matrix factorisation", config=MatrixFactorizationConfig,
    builder="engine.models.ratings:build_matrix_factorization", size=matrix_factorization_size,
    kinds=("ratings",), order=100, presets=PRESETS,
    description="Learns a taste vector per user and per item, plus how generous each user is and how liked "
                "each item is.")
