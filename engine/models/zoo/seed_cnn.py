"""The brief's Seed CNN for pictures: its settings, size, the smallest pictures it fits, and its registry entry."""

from __future__ import annotations

from typing import Any, Literal

from engine.errors import DataError
from engine.models.configs import Activation, ModelConfigBase, activation_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, conv3x3, linear


class SeedCNNConfig(ModelConfigBase):
    """The brief's CIFAR network: three 3×3 convolutions (32, 64, 64 filters), two poolings, two dense layers."""

    name: Literal["seed_cnn"] = "seed_cnn"
    activation: Activation = activation_field()


SEED_CNN_MIN_SIDE = 18  # three unpadded 3×3 convolutions and two halvings leave 1 pixel from 18


def seed_cnn_feature_side(side: int) -> int:
    """Give back the side of the Seed CNN's last feature map for an input side (no padding, floor pooling)."""
    return ((side - 2) // 2 - 2) // 2 - 2


def check_seed_cnn_fits(spec: dict[str, Any]) -> None:
    """Raise DataError, in plain words, when the images are too small for the Seed CNN."""
    if min(spec["height"], spec["width"]) < SEED_CNN_MIN_SIDE:
        raise DataError(f"The Seed CNN needs images of at least {SEED_CNN_MIN_SIDE}×{SEED_CNN_MIN_SIDE} pixels; "
                        f"these are {spec['height']}×{spec['width']}. Choose the small residual network instead.")


def seed_cnn_size(config: SeedCNNConfig, spec: dict[str, Any]) -> ModelSize:
    check_seed_cnn_fits(spec)
    h, w = spec["height"], spec["width"]
    maps = [(32, h - 2, w - 2), (64, (h - 2) // 2 - 2, (w - 2) // 2 - 2)]
    side_h, side_w = seed_cnn_feature_side(h), seed_cnn_feature_side(w)
    parameters = (conv3x3(spec["channels"], 32) + conv3x3(32, 64) + conv3x3(64, 64)
                  + linear(64 * side_h * side_w, 64) + linear(64, spec["n_outputs"]))
    activations = sum(2.5 * c * y * x for c, y, x in maps) + 2 * 64 * side_h * side_w + 128
    return ModelSize(parameters, int(activations))


# No presets: the Seed CNN has no size to choose, so every preset starts from its defaults.
MODEL = ModelEntry(
    name="seed_cnn", title="Simple picture network (Seed CNN)", config=SeedCNNConfig,
    builder="engine.models.image:build_seed_cnn", size=seed_cnn_size, kinds=("image",), order=20,
    description="Three layers that look for small patterns in the picture (convolutions), then two plain layers: "
                "the simplest picture network here; needs images of at least 18×18 pixels.")
