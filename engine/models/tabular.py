"""Models for tables."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from engine.models.layers import activation, initialise
from engine.models.zoo.mlp import MLPConfig, range_edges


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


def network(config: MLPConfig, width: int, n_outputs: int) -> tuple[nn.Sequential, nn.Linear]:
    """Give back (hidden layers, output layer) of one network of the given input width."""
    layers: list[nn.Module] = []
    for hidden in config.hidden_sizes:
        layers.append(nn.Linear(width, hidden))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(activation(config.activation))
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
        width = hidden
    return nn.Sequential(*layers), nn.Linear(width, n_outputs)


class MLP(nn.Module):
    """A network over the table's columns, or several trained side by side whose answers are averaged.

    With members > 1, training gives back every member's outputs, (members, batch, n_outputs), and the loss is
    the mean of the members' losses (engine.training.evaluate.task_loss), so each learns on its own from its own
    starting weights; predicting gives back their combined answer: the log of the mean class probabilities, or
    the mean number. An ensemble of networks is steadier than any one of them on a table (Gorishniy et al.,
    2024, "TabM").
    """

    def __init__(self, config: MLPConfig, n_features: int, n_outputs: int, edges: list[list[float]] | None = None,
                 task: str = "classification"):
        super().__init__()
        # The numeric columns come first in a row (engine.data.prepare_tables.transform_features).
        self.ranges = NumberRanges(edges) if edges else None
        self.n_numbers = len(edges) if edges else 0
        self.classify = task == "classification"
        width = n_features + (self.ranges.n_outputs if self.ranges else 0)
        if config.members == 1:
            self.body, self.head = network(config, width, n_outputs)
        else:
            self.members = nn.ModuleList(nn.Sequential(*network(config, width, n_outputs))
                                         for _ in range(config.members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, n_features) [‖ ranges (batch, numbers × ranges)] -> (batch, n_outputs)
        if self.ranges is not None:
            x = torch.cat([x, self.ranges(x[:, :self.n_numbers])], 1)
        if not hasattr(self, "members"):
            return self.head(self.body(x))
        outputs = torch.stack([member(x) for member in self.members])  # (members, batch, n_outputs)
        if self.training:
            return outputs
        if self.classify:
            return torch.logsumexp(torch.log_softmax(outputs, -1), 0) - math.log(len(self.members))
        return outputs.mean(0)


def build_mlp(config: MLPConfig, spec: dict[str, Any]) -> nn.Module:
    model = MLP(config, spec["n_features"], spec["n_outputs"], range_edges(config, spec), spec.get("task", ""))
    return initialise(model, config.init, config.activation)
