"""Models for ratings. Inputs are (batch, 2) = [user index, item index]; index 0 is the unknown user or item.

`n_users` and `n_items` count the known ones, so the tables hold one more row each for index 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.layers import activation, initialise
from engine.models.zoo.matrix_factorization import MatrixFactorizationConfig
from engine.models.zoo.ncf import NCFConfig

FACTOR_STD = 0.01  # small starting vectors: ratings start near the mean and taste is learned from there


def embedding(rows: int, dim: int) -> nn.Embedding:
    table = nn.Embedding(rows, dim)
    nn.init.normal_(table.weight, std=FACTOR_STD)
    return table


class MatrixFactorization(nn.Module):
    """rating = global bias + user bias + item bias + user vector · item vector (on the standardised scale)."""

    def __init__(self, config: MatrixFactorizationConfig, n_users: int, n_items: int,
                 user_counts: list[int] | None = None, item_counts: list[int] | None = None):
        super().__init__()
        self.users, self.items = embedding(n_users + 1, config.factors), embedding(n_items + 1, config.factors)
        # Biases are plain vectors, not weight matrices, so an initialisation scheme leaves them at zero.
        self.user_bias, self.item_bias = nn.Parameter(torch.zeros(n_users + 1)), nn.Parameter(torch.zeros(n_items + 1))
        self.global_bias = nn.Parameter(torch.zeros(1))
        self.regularisation = config.regularisation
        # 1 / (training ratings) per user and item; index 0, the unknown one, counts as 1. Not saved with the
        # weights: they are only needed while training.
        self.register_buffer("user_share", share_of(user_counts, n_users), persistent=False)
        self.register_buffer("item_share", share_of(item_counts, n_items), persistent=False)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        # pairs: (batch, 2) -> (batch, 1)
        user, item = pairs[:, 0], pairs[:, 1]
        taste = (self.users(user) * self.items(item)).sum(-1)  # (batch,)
        return (self.global_bias + self.user_bias[user] + self.item_bias[item] + taste).unsqueeze(-1)

    def penalty(self, pairs: torch.Tensor) -> torch.Tensor:
        """Give back the batch's share of the pull towards the average, added to the training loss.

        Each user's (and item's) vector and bias are pulled towards zero with a weight of regularisation / their
        number of ratings, per rating in the batch: over an epoch every user is pulled with the same total
        strength, however many ratings they have, as when a bias is damped with Σ(r − mean) / (n + λ). A plain
        weight decay instead pulls hardest on the users seen most often, and under Adam hardly at all.
        """
        if not self.regularisation:
            return torch.zeros((), device=pairs.device)
        user, item = pairs[:, 0], pairs[:, 1]
        users = (self.users(user).square().sum(-1) + self.user_bias[user].square()) * self.user_share[user]
        items = (self.items(item).square().sum(-1) + self.item_bias[item].square()) * self.item_share[item]
        return self.regularisation * (users + items).mean()


class NCF(nn.Module):
    """Neural collaborative filtering (He et al., 2017): a factorisation part and a network part, side by side."""

    def __init__(self, config: NCFConfig, n_users: int, n_items: int):
        super().__init__()
        self.gmf_users, self.gmf_items = embedding(n_users + 1, config.factors), embedding(n_items + 1, config.factors)
        self.mlp_users, self.mlp_items = embedding(n_users + 1, config.factors), embedding(n_items + 1, config.factors)
        layers: list[nn.Module] = []
        width = 2 * config.factors
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), activation(config.activation), nn.Dropout(config.dropout)]
            width = hidden
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(config.factors + width, 1)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        # pairs: (batch, 2) -> GMF (batch, factors) ‖ MLP (batch, last width) -> (batch, 1)
        user, item = pairs[:, 0], pairs[:, 1]
        gmf = self.gmf_users(user) * self.gmf_items(item)
        mlp = self.mlp(torch.cat([self.mlp_users(user), self.mlp_items(item)], -1))
        return self.head(torch.cat([gmf, mlp], -1))


def share_of(counts: list[int] | None, n: int) -> torch.Tensor:
    """Give back 1 / count per index, index 0 (unknown) and missing counts taken as 1."""
    counts_tensor = torch.ones(n + 1)
    if counts is not None and len(counts) == n:
        counts_tensor[1:] = torch.as_tensor(counts, dtype=torch.float32).clamp(min=1)
    return 1.0 / counts_tensor


def build_matrix_factorization(config: MatrixFactorizationConfig, spec: dict[str, Any]) -> nn.Module:
    model = MatrixFactorization(config, spec["n_users"], spec["n_items"], spec.get("user_counts"),
                                spec.get("item_counts"))
    return initialise(model, config.init)


def build_ncf(config: NCFConfig, spec: dict[str, Any]) -> nn.Module:
    return initialise(NCF(config, spec["n_users"], spec["n_items"]), config.init, config.activation)
