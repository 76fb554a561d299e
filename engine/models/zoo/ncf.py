"""Neural collaborative filtering for ratings: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from engine.models.configs import (Activation, ModelConfigBase, activation_field, check_widths, dropout_field,
                                   widths_field)
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear, stacked_linear


class NCFConfig(ModelConfigBase):
    """Neural collaborative filtering: factorisation and a small network over user and item vectors, combined."""

    name: Literal["ncf"] = "ncf"
    factors: int = Field(16, ge=1, le=1024, title="Taste factors",
                         description="Numbers that describe each user and each item, in each of the two parts.")
    hidden_sizes: list[int] = widths_field([64, 32], "network")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.1)

    @model_validator(mode="after")
    def _widths(self):
        check_widths(self.hidden_sizes)
        return self


def ncf_size(config: NCFConfig, spec: dict[str, Any]) -> ModelSize:
    rows = spec["n_users"] + 1 + spec["n_items"] + 1
    mlp, mlp_activations, width = stacked_linear(config.hidden_sizes, 2 * config.factors)
    parameters = 2 * rows * config.factors + mlp + linear(config.factors + width, 1)
    return ModelSize(parameters, 6 * config.factors + mlp_activations + 1)


PRESETS = {"Quick": dict(factors=8, hidden_sizes=[32]), "Balanced": dict(factors=16, hidden_sizes=[64, 32]),
           "Best": dict(factors=32, hidden_sizes=[128, 64], dropout=0.2)}

MODEL = ModelEntry(
    name="ncf", title="Neural collaborative filtering", config=NCFConfig, builder="engine.models.ratings:build_ncf",
    size=ncf_size, kinds=("ratings",), order=110, presets=PRESETS,
    description="Matrix factorisation and a small network side by side; can learn tastes that do not simply add up.")
