"""Pieces shared by the model families: activations by name and weight initialisation."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def initialise(model: nn.Module, scheme: str, activation_name: str = "relu") -> nn.Module:
    """Re-draw the weights of linear and convolution layers with the named scheme; give back the model."""
    if scheme == "default":
        return model
    nonlinearity = "leaky_relu" if activation_name == "leaky_relu" else "relu"
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            if scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity=nonlinearity)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
