"""The multi-layer network for tables: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from engine.models.configs import (Activation, ModelConfigBase, activation_field, check_widths, dropout_field,
                                   widths_field)
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear, stacked_linear


# Ranges (between training quantiles) a numeric column is also read in by the table network (see
# engine.models.tabular): one per ROWS_PER_RANGE training rows, from 16 to 64, fewer when a table has so many numeric
# columns that they would give more than RANGE_INPUTS inputs in all. Balanced, 3 seeds, 64 ranges against 16
# (gradient boosting in brackets): gss_wages error 24,443 → 24,114 (24,257), hpc_jobs 0.8405 → 0.8426 (0.8441),
# credit_scoring 0.8037 → 0.8057 (0.8047), ames_housing 23,118 → 23,075 (24,387), telco_churn 0.8089 → 0.8057
# (0.7956); and the diabetes sample's 309 training rows, 19 to a range at 16, error 62.7 → 65.4: hence a range for
# every 40 rows at the most.
NUMBER_RANGES = (16, 64)
ROWS_PER_RANGE = 40
RANGE_INPUTS = 4096


def ranges_pay(training_rows: int) -> bool:
    """Give back whether a table has training rows enough to read its numbers by range as well: ROWS_PER_RANGE for
    each of the fewest ranges. Below that the ranges learn the noise of a few rows each. The samples below it (105 to
    398 training rows), Balanced, 3 seeds, numbers as they are against also by range (gradient boosting in
    brackets): diabetes error 58.0 against 62.6 (59.6), iris 98.6 % against 97.1 % (95.7 %), breast cancer 95.7 %
    and wine 100 % either way."""
    return training_rows >= NUMBER_RANGES[0] * ROWS_PER_RANGE


def number_ranges(numeric_columns: int, training_rows: int) -> int:
    """Give back how many ranges each numeric column of a table is read in, from its training rows and how many of
    its columns are numbers."""
    fewest, most = NUMBER_RANGES
    return max(fewest, min(most, training_rows // ROWS_PER_RANGE, RANGE_INPUTS // max(1, numeric_columns)))


class MLPConfig(ModelConfigBase):
    """A fully connected network for tables: a few layers of neurons between the columns and the answer."""

    name: Literal["mlp"] = "mlp"
    hidden_sizes: list[int] = widths_field([128, 64], "hidden")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.1)
    batch_norm: bool = Field(False, title="Batch normalisation",
                             description="Re-centre each layer's outputs per batch; often trains faster.")
    members: int = Field(1, ge=1, le=32, title="Networks in the ensemble",
                         description="Train this many networks side by side, each from its own starting weights, and "
                                     "average their answers: steadier results at that many times the work.")
    number_ranges: bool = Field(False, title="Read numbers by range",
                                description="Also give the network each number as the ranges it falls in "
                                            "(between the training rows' quantiles), so it can treat low, middle "
                                            "and high values differently, as decision trees do.")

    @model_validator(mode="after")
    def _widths(self):
        check_widths(self.hidden_sizes)
        return self


def range_edges(config: MLPConfig, spec: dict[str, Any]) -> list[list[float]] | None:
    """Give back the numeric columns' quantile edges when the model reads numbers by range and has any, else None."""
    edges = spec.get("number_edges") or []
    if not config.number_ranges or not edges or max(len(e or []) for e in edges) < 2:
        return None
    return [e or [] for e in edges]


def mlp_size(config: MLPConfig, spec: dict[str, Any]) -> ModelSize:
    edges = range_edges(config, spec)
    inputs = spec["n_features"] + (len(edges) * max(len(e) - 1 for e in edges) if edges else 0)
    parameters, activations, width = stacked_linear(config.hidden_sizes, inputs, config.batch_norm)
    members = config.members
    return ModelSize(members * (parameters + linear(width, spec["n_outputs"])), inputs + members * activations)


# Batch normalisation and dropout 0.2 on the samples over 5 seeds: breast cancer 94.9 % → 96.3 % test
# accuracy, diabetes error 55.6 → 55.3; iris 95.7 % → 94.8 % (one flower in 115), wine unchanged.
# Reading numbers by range as well: hpc_jobs 0.810 → 0.829 test accuracy, ames_housing error 26,300 → 23,800
# (2 seeds each, with logarithms of long-tailed columns in both). An ensemble of 8 networks, 3 seeds: hpc_jobs
# 0.833 → 0.839, credit_scoring 0.798 → 0.801, ames_housing 24,600 → 23,700, for 3-8× the (short) time.
# 16 networks for Balanced and 32 for Best: see the tables' training settings in engine/presets.py.
BALANCED = dict(hidden_sizes=[128, 64], batch_norm=True, dropout=0.2, number_ranges=True, members=16)
PRESETS = {"Quick": dict(hidden_sizes=[64], number_ranges=True), "Balanced": BALANCED, "Best": BALANCED | dict(members=32)}

MODEL = ModelEntry(
    name="mlp", title="Multi-layer network (MLP)", config=MLPConfig, builder="engine.models.tabular:build_mlp",
    size=mlp_size, kinds=("tabular",), order=10, presets=PRESETS,
    description="Layers of neurons over the table's columns; the standard choice for tables.")
