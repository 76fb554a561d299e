"""Models for images: the brief's Seed CNN and a small residual network."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.layers import activation, initialise
from engine.models.zoo.resnet_small import ResNetSmallConfig
from engine.models.zoo.seed_cnn import SeedCNNConfig, check_seed_cnn_fits, seed_cnn_feature_side

MONOTONE_ACTIVATIONS = {"relu", "leaky_relu", "tanh"}  # GELU and SiLU dip below zero, so they do not commute


class SeedCNN(nn.Module):
    """Exactly the brief's Keras network, ending in logits (the loss applies the softmax)."""

    def __init__(self, config: SeedCNNConfig, channels: int, height: int, width: int, n_outputs: int):
        super().__init__()
        act = config.activation

        def conv_act_pool(in_channels: int, out_channels: int) -> list[nn.Module]:
            # max(act(x)) == act(max(x)) when act never decreases, values and gradients alike: pooling first
            # runs the activation on a quarter of the values (about 10% faster training on a CPU).
            if act in MONOTONE_ACTIVATIONS:
                return [nn.Conv2d(in_channels, out_channels, 3), nn.MaxPool2d(2), activation(act)]
            return [nn.Conv2d(in_channels, out_channels, 3), activation(act), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*conv_act_pool(channels, 32), *conv_act_pool(32, 64),
                                      nn.Conv2d(64, 64, 3), activation(act))
        flat = 64 * seed_cnn_feature_side(height) * seed_cnn_feature_side(width)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 64), activation(act), nn.Linear(64, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, channels, H, W) -> features (batch, 64, h, w) -> (batch, n_outputs)
        return self.head(self.features(x))


def conv_bn(in_channels: int, out_channels: int, act: str) -> nn.Sequential:
    """A padded 3×3 convolution, batch normalisation and activation; the norm makes a conv bias redundant."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), activation(act))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, act: str):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels, act), conv_bn(channels, channels, act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # same shape in and out


class ResNetSmall(nn.Module):
    """stem → three stages (widen, halve the size, residual blocks) → global average → linear.

    Padding and global averaging make it work on any image size, from 8×8 digits up.
    """

    def __init__(self, config: ResNetSmallConfig, channels: int, height: int, width: int, n_outputs: int):
        super().__init__()
        act, widths = config.activation, [config.base_width * 2**i for i in range(3)]
        layers: list[nn.Module] = [conv_bn(channels, widths[0], act)]
        side = min(height, width)
        for stage, stage_width in enumerate(widths):
            if stage > 0:
                layers.append(conv_bn(widths[stage - 1], stage_width, act))
            if side >= 2:  # stop halving once the map is a single pixel
                layers.append(nn.MaxPool2d(2))
                side //= 2
            layers.extend(ResidualBlock(stage_width, act) for _ in range(config.blocks_per_stage))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(widths[-1], n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, channels, H, W) -> features (batch, 4 × base_width, H/8, W/8) -> (batch, n_outputs)
        return self.head(self.features(x))


def build_seed_cnn(config: SeedCNNConfig, spec: dict[str, Any]) -> nn.Module:
    check_seed_cnn_fits(spec)
    model = SeedCNN(config, spec["channels"], spec["height"], spec["width"], spec["n_outputs"])
    return initialise(model, config.init, config.activation)


def build_resnet_small(config: ResNetSmallConfig, spec: dict[str, Any]) -> nn.Module:
    model = ResNetSmall(config, spec["channels"], spec["height"], spec["width"], spec["n_outputs"])
    return initialise(model, config.init, config.activation)
