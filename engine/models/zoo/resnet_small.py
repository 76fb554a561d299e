"""The small residual network for pictures: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from engine.models.configs import Activation, ModelConfigBase, activation_field, dropout_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, conv3x3, linear


class ResNetSmallConfig(ModelConfigBase):
    """A small residual network: three stages of convolutions with shortcuts and batch normalisation."""

    name: Literal["resnet_small"] = "resnet_small"
    base_width: int = Field(16, ge=4, le=256, title="Filters in the first stage",
                            description="Convolution filters in the first stage; each later stage doubles them.")
    blocks_per_stage: int = Field(1, ge=1, le=8, title="Blocks per stage",
                                  description="Residual blocks (two convolutions and a shortcut) in each stage.")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.0, "features")


def resnet_small_size(config: ResNetSmallConfig, spec: dict[str, Any]) -> ModelSize:
    widths = [config.base_width * 2**i for i in range(3)]
    conv_bn = lambda n_in, n_out: conv3x3(n_in, n_out, bias=False) + 2 * n_out  # noqa: E731
    parameters = conv_bn(spec["channels"], widths[0])
    pixels = spec["height"] * spec["width"]
    activations = 3 * widths[0] * pixels
    side = min(spec["height"], spec["width"])
    for stage, width in enumerate(widths):
        if stage > 0:
            parameters += conv_bn(widths[stage - 1], width)
            activations += 3 * width * pixels
        if side >= 2:
            side, pixels = side // 2, pixels // 4
        parameters += config.blocks_per_stage * 2 * conv_bn(width, width)
        activations += config.blocks_per_stage * 7 * width * pixels  # two conv-norm-activations and the sum
    return ModelSize(parameters + linear(widths[-1], spec["n_outputs"]), activations)


PRESETS = {"Quick": dict(base_width=8), "Balanced": dict(base_width=16),
           "Best": dict(base_width=32, blocks_per_stage=2)}

MODEL = ModelEntry(
    name="resnet_small", title="Small residual network", config=ResNetSmallConfig,
    builder="engine.models.image:build_resnet_small", size=resnet_small_size, kinds=("image",), order=30,
    presets=PRESETS,
    description="Convolutions with shortcuts and batch normalisation; more accurate than the Seed CNN at "
                "about the same size, and works on images of any size.")
