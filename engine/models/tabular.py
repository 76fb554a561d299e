"""Models for tables."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.configs import MLPConfig
from engine.models.estimate import range_edges
from engine.models.layers import activation, initialise


class NumberRanges(nn.Module):
    """Piecewise-linear encoding of the numeric columns (Gorishniy et al., 2022, "On embeddings for numerical
    features in tabular deep learning"): for each range between two training quantiles of a column, how far the
    value has gone through it — 0 below the range, 1 above it, in between inside it. A network reading these can
    answer differently for low, middle and high values, as a decision tree does; on plain scaled numbers its
    first layer can only draw one straight line per neuron."""

    def __init__(self, edges: list[list[float]]):
        super().__init__()
        ranges = max(len(e) - 1 for e in edges)
        lows, widths, used = torch.zeros(len(edges), ranges), torch.ones(len(edges), ranges), torch.zeros(len(edges), ranges)
        for column, column_edges in enumerate(edges):
            bounds = torch.tensor(column_edges, dtype=torch.float32)
            count = len(column_edges) - 1
            lows[column, :count], widths[column, :count], used[column, :count] = bounds[:-1], bounds.diff(), 1.0
        self.register_buffer("lows", lows)
        self.register_buffer("widths", widths)
        self.register_buffer("used", used)

    @property
    def n_outputs(self) -> int:
        return self.lows.numel()

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        # numbers: (batch, columns) -> (batch, columns, ranges) -> (batch, columns * ranges)
        through = ((numbers.unsqueeze(-1) - self.lows) / self.widths).clamp(0.0, 1.0)
        return (through * self.used).flatten(1)


class MLP(nn.Module):
    def __init__(self, config: MLPConfig, n_features: int, n_outputs: int, edges: list[list[float]] | None = None):
        super().__init__()
        # The numeric columns come first in a row (engine.data.prepare.transform_features).
        self.ranges = NumberRanges(edges) if edges else None
        self.n_numbers = len(edges) if edges else 0
        layers: list[nn.Module] = []
        width = n_features + (self.ranges.n_outputs if self.ranges else 0)
        for hidden in config.hidden_sizes:
            layers.append(nn.Linear(width, hidden))
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(activation(config.activation))
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, n_features) [‖ ranges (batch, numbers × ranges)] -> (batch, n_outputs)
        if self.ranges is not None:
            x = torch.cat([x, self.ranges(x[:, :self.n_numbers])], 1)
        return self.head(self.body(x))


def build_mlp(config: MLPConfig, spec: dict[str, Any]) -> nn.Module:
    model = MLP(config, spec["n_features"], spec["n_outputs"], range_edges(config, spec))
    return initialise(model, config.init, config.activation)
