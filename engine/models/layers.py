"""Pieces shared by the model families: activations by name, weight initialisation, masked pooling."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def initialise(model: nn.Module, scheme: str, activation_name: str = "relu") -> nn.Module:
    """Re-draw every weight matrix of model with the named scheme and zero its biases; give back the model.

    'default' keeps what each layer drew itself. Normalisation layers keep their ones and zeros, and
    embedding rows reserved for padding stay zero so that padding adds nothing.
    """
    if scheme == "default":
        return model
    nonlinearity = "leaky_relu" if activation_name == "leaky_relu" else "relu"
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NORMS):
                continue
            for name, parameter in module.named_parameters(recurse=False):
                if parameter.dim() >= 2 and not name.startswith("bias"):
                    # The layer of an ensemble's networks stacked in one tensor (engine.models.tabular.MemberLinear)
                    # holds one matrix per network, each drawn as a layer of its own.
                    for matrix in parameter if getattr(module, "stacked", False) else [parameter]:
                        if scheme == "xavier":
                            nn.init.xavier_uniform_(matrix)
                        else:
                            nn.init.kaiming_normal_(matrix, nonlinearity=nonlinearity)
                elif name.startswith("bias"):
                    nn.init.zeros_(parameter)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
    return model


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Give back the mean over dim 1 of values (batch, length, dim), counting only where mask (batch, length) is set."""
    mask = mask.unsqueeze(-1).to(values.dtype)  # (batch, length, 1)
    return (values * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Give back the fixed (length, dim) sine and cosine position table of 'Attention is all you need'."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table
