"""Models for tables."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.configs import MLPConfig
from engine.models.layers import activation, initialise


class MLP(nn.Module):
    def __init__(self, config: MLPConfig, n_features: int, n_outputs: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
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
        # x: (batch, n_features) -> (batch, n_outputs)
        return self.head(self.body(x))


def build_mlp(config: MLPConfig, spec: dict[str, Any]) -> nn.Module:
    model = MLP(config, spec["n_features"], spec["n_outputs"])
    return initialise(model, config.init, config.activation)
