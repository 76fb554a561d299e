"""Model size and training memory, computed by arithmetic so the dashboard can show them without torch.

Each `*_size` function counts exactly the parameters its model's nn.Module has (a test checks every one) and
roughly the numbers per example that training keeps for the backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import DataError
from engine.models.configs import (BagOfEmbeddingsConfig, EfficientNetLite0Config, MatrixFactorizationConfig, MiniLMConfig,
                                   MLPConfig, NCFConfig, ResNetSmallConfig, RNNConfig, SeedCNNConfig,
                                   TransformerConfig)

FLOAT_BYTES = 4


@dataclass(frozen=True)
class ModelSize:
    parameters: int
    activations_per_example: int  # numbers kept per example for the backward pass; a rough count
    # Numbers computed per example once before training (a frozen pretrained encoder's features), or 0.
    encoding_per_example: int = 0
    trained_parameters: int | None = None  # those that learn, when not all of them do (a frozen encoder's do not)

    @property
    def learning(self) -> int:
        """The parameters that training updates."""
        return self.parameters if self.trained_parameters is None else self.trained_parameters


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def conv3x3(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out * 9 + (n_out if bias else 0)


def stacked_linear(widths: list[int], n_in: int, batch_norm: bool = False) -> tuple[int, int, int]:
    """Give back (parameters, activations, last width) of Linear(+BatchNorm) layers of the given widths."""
    parameters = activations = 0
    for width in widths:
        parameters += linear(n_in, width) + (2 * width if batch_norm else 0)
        activations += width * (4 if batch_norm else 3)  # linear, (norm,) activation, dropout mask
        n_in = width
    return parameters, activations, n_in


def range_edges(config: MLPConfig, spec: dict[str, Any]) -> list[list[float]] | None:
    """Give back the numeric columns' quantile edges when the model reads numbers by range and has any, else None."""
    edges = spec.get("number_edges") or []
    if not config.number_ranges or not edges or max(len(e or []) for e in edges) < 2:
        return None
    return [e or [] for e in edges]


def mlp_size(config: MLPConfig, spec: dict[str, Any]) -> ModelSize:
    edges = range_edges(config, spec)
    inputs = spec["n_features"] + (len(edges) * max(len(e) - 1 for e in edges) if edges else 0)
    parameters, activations, width = stacked_linear(config.hidden_sizes, inputs, config.batch_norm)
    members = config.members
    return ModelSize(members * (parameters + linear(width, spec["n_outputs"])), inputs + members * activations)


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


# (repeats, kernel, stride, expansion, input filters, output filters) of EfficientNet-Lite0's stages, as in the
# TensorFlow Lite builder; engine.models.pretrained builds the network from this table.
LITE0_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
LITE0_HEAD = 1280  # the final layer's width
LITE0_FEATURES = sum(stage[-1] for stage in LITE0_STAGES[1:]) + LITE0_HEAD  # pooled from every stage but the first
# all-MiniLM-L6-v2: word pieces in its vocabulary, vector width, attention heads, wide layer, layers, longest input.
MINILM_VOCABULARY, MINILM_WIDTH, MINILM_HEADS, MINILM_WIDE, MINILM_LAYERS, MINILM_POSITIONS = 30522, 384, 12, 1536, 6, 512


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


def bag_of_embeddings_size(config: BagOfEmbeddingsConfig, spec: dict[str, Any]) -> ModelSize:
    dim, length = config.embedding_dim, spec["max_length"]
    parameters = spec["vocab_size"] * dim + (config.bigram_buckets * dim if config.bigrams else 0)
    head, head_activations, width = stacked_linear([config.hidden_size] if config.hidden_size else [], dim)
    vectors = (2 * length - 1 if config.bigrams else length) * dim
    return ModelSize(parameters + head + linear(width, spec["n_outputs"]), 2 * vectors + head_activations)


def recurrent_size(gates: int):
    """Give back the size function of an LSTM (4 gates) or GRU (3 gates) classifier."""

    def size(config: RNNConfig, spec: dict[str, Any]) -> ModelSize:
        directions = 2 if config.bidirectional else 1
        hidden, n_in = config.hidden_size, config.embedding_dim
        parameters = spec["vocab_size"] * config.embedding_dim
        for _ in range(config.num_layers):
            # per direction: input and recurrent weights of every gate, and two bias vectors
            parameters += directions * gates * (n_in * hidden + hidden * hidden + 2 * hidden)
            n_in = hidden * directions
        parameters += linear(n_in, spec["n_outputs"])
        per_step = config.embedding_dim + config.num_layers * directions * hidden * (gates + 2)
        return ModelSize(parameters, spec["max_length"] * per_step)

    return size


def transformer_size(config: TransformerConfig, spec: dict[str, Any]) -> ModelSize:
    d, ff, length = config.d_model, config.ff_size, spec["max_length"]
    layer = linear(d, 3 * d) + linear(d, d) + linear(d, ff) + linear(ff, d) + 2 * (2 * d)  # attention, ff, 2 norms
    parameters = spec["vocab_size"] * d + config.n_layers * layer + 2 * d + linear(d, spec["n_outputs"])
    if config.positional_encoding == "learned":
        parameters += length * d
    per_layer = length * (10 * d + 2 * ff) + config.n_heads * length * length
    return ModelSize(parameters, config.n_layers * per_layer + length * d)


def matrix_factorization_size(config: MatrixFactorizationConfig, spec: dict[str, Any]) -> ModelSize:
    rows = spec["n_users"] + 1 + spec["n_items"] + 1
    return ModelSize(rows * (config.factors + 1) + 1, 3 * config.factors + 4)


def ncf_size(config: NCFConfig, spec: dict[str, Any]) -> ModelSize:
    rows = spec["n_users"] + 1 + spec["n_items"] + 1
    mlp, mlp_activations, width = stacked_linear(config.hidden_sizes, 2 * config.factors)
    parameters = 2 * rows * config.factors + mlp + linear(config.factors + width, 1)
    return ModelSize(parameters, 6 * config.factors + mlp_activations + 1)


# --- training memory

# Extra copies of the weights each optimiser keeps (Adam: two running averages; SGD: one momentum buffer).
OPTIMIZER_COPIES = {"sgd": 1, "adam": 2, "adamw": 2, "rmsprop": 1, "adagrad": 1}

# Bytes one example's inputs take once they are tensors.
INPUT_BYTES = {
    "tabular": lambda spec: FLOAT_BYTES * spec["n_features"],
    "image": lambda spec: FLOAT_BYTES * spec["channels"] * spec["height"] * spec["width"],
    "text": lambda spec: 8 * spec["max_length"],
    "ratings": lambda spec: 16,
}


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int  # bytes of the parameters
    gradients: int
    optimizer: int
    activations: int  # for one training batch
    data: int  # the whole data set, kept on the device
    total: int


def memory_estimate(size: ModelSize, spec: dict[str, Any], batch_size: int, optimizer: str, n_rows: int,
                    momentum: float = 0.9) -> MemoryEstimate:
    """Give back a rough estimate, in bytes, of the memory training needs on its device."""
    weights = FLOAT_BYTES * size.parameters
    trained = FLOAT_BYTES * size.learning
    copies = OPTIMIZER_COPIES[optimizer] if optimizer != "sgd" or momentum > 0 else 0
    activations = FLOAT_BYTES * size.activations_per_example * batch_size
    data = INPUT_BYTES[spec["kind"]](spec) * n_rows
    parts = dict(weights=weights, gradients=trained, optimizer=copies * trained, activations=activations, data=data)
    return MemoryEstimate(**parts, total=sum(parts.values()))


# --- describing a stored data set before it is prepared

TYPICAL_SPECS = {
    "tabular": {"n_features": 10},
    "image": {"channels": 3, "height": 32, "width": 32},
    "text": {"vocab_size": 20000, "max_length": 200},
    "ratings": {"n_users": 1000, "n_items": 1000},
}
# Figures of the quality report that give a spec's entries: text length, counts of users and items.
REPORT_FIGURES = {"max_length": "max_length", "n_users": "users", "n_items": "items"}
CATEGORY_COLUMNS_AS = 11  # a category column becomes one number per value seen (up to 50) plus 'other'; dates none


def dataset_spec(dataset: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Give back (spec, exact) for a stored data set: the spec it recorded, or a close guess from its schema."""
    schema = dataset.get("schema") or {}
    if schema.get("spec"):
        return dict(schema["spec"]), True
    kind, task = dataset["kind"], dataset["task"]
    report = dataset.get("quality_report") or {}
    n_outputs = max(2, len(report.get("class_counts") or {})) if task == "classification" else 1
    spec = {"kind": kind, "task": task, "n_outputs": n_outputs, **TYPICAL_SPECS[kind]}
    spec.update({key: schema[key] for key in TYPICAL_SPECS[kind] if isinstance(schema.get(key), int)})
    spec.update({key: report[name] for key, name in REPORT_FIGURES.items()
                 if key in spec and isinstance(report.get(name), int)})
    if kind == "tabular" and schema.get("columns"):
        types = [type_ for column, type_ in schema["columns"].items() if column != dataset.get("target")]
        spec["n_features"] = types.count("number") + CATEGORY_COLUMNS_AS * (types.count("category") + types.count("text"))
    return spec, False


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} GB"


# --- training time, from a short measurement of this machine (`python -m engine calibrate`)

# Validation after each epoch and the final evaluation add roughly this share to the training steps.
EVALUATION_SHARE = 0.15
# A run starts in a process whose imports are done and whose optimisers are loaded; preparing a small data set,
# fitting its classical reference (gradient boosting for a table takes the longest) and writing its evaluation
# take about this long in all, by kind of data (measured with bench/estimates.py on 2 CPU cores).
RUN_START_SECONDS = {"tabular": 3.0, "image": 2.0, "text": 2.0, "ratings": 1.0}
# A forward pass is about a third of the work of a training step (the backward pass costs about twice as much).
FORWARD_SHARE = 1 / 3
# Each epoch also writes its figures and a checkpoint: about this long for a small model.
EPOCH_SECONDS = 0.02


def step_work(size: ModelSize, batch_size: int) -> float:
    """Give back the units of work of one training step: the numbers a batch keeps, plus one update per weight."""
    return float(batch_size * size.activations_per_example + size.learning)


def training_steps(n_train: int, batch_size: int, epochs: int) -> int:
    """Give back the optimiser steps of a run: whole batches per epoch (the last one may be short)."""
    return epochs * max(1, -(-n_train // batch_size))


def training_seconds(size: ModelSize, n_train: int, batch_size: int, epochs: int, calibration: dict[str, float],
                     share: float = 1.0) -> float:
    """Give back the seconds of a run's training steps and epochs, from a calibration's seconds per step and per unit
    of work; share: the share of its steps the run takes (early stopping may end it sooner)."""
    per_step = calibration["seconds_per_step"] + step_work(size, batch_size) * calibration["seconds_per_unit"]
    steps = training_steps(n_train, batch_size, epochs) * share
    return steps * per_step * (1 + EVALUATION_SHARE) + epochs * share * EPOCH_SECONDS


def encoding_seconds(size: ModelSize, n_rows: int, calibration: dict[str, float]) -> float:
    """Give back the seconds a frozen pretrained encoder takes to read n_rows examples once: a forward pass alone,
    about a third of a training step's work."""
    return n_rows * size.encoding_per_example * calibration["seconds_per_unit"] * FORWARD_SHARE


def time_estimate(size: ModelSize, n_train: int, batch_size: int, epochs: int, calibration: dict[str, float],
                  n_rows: int = 0, share: float = 1.0, kind: str = "tabular") -> float:
    """Give back the seconds a run should take: its start, the encoder's reading of n_rows examples (all of the
    data set's, when a frozen pretrained encoder has not read them yet) and its training at share of its steps."""
    return (RUN_START_SECONDS[kind] + encoding_seconds(size, n_rows, calibration)
            + training_seconds(size, n_train, batch_size, epochs, calibration, share))


def minilm_size(config: MiniLMConfig, spec: dict[str, Any]) -> ModelSize:
    """Parameters of the pretrained sentence encoder and its trained part; numbers per text at the longest text."""
    width, wide, length = MINILM_WIDTH, MINILM_WIDE, spec.get("max_length") or 128
    layer = 4 * linear(width, width) + linear(width, wide) + linear(wide, width) + 4 * width
    parameters = (MINILM_VOCABULARY + MINILM_POSITIONS + 2) * width + 2 * width + MINILM_LAYERS * layer
    # each layer keeps about its queries, keys, values, mixed values, two norms (width each), the wide layer
    # and its activation (wide each) per piece, and the attention weights (heads × length) per piece
    numbers = MINILM_LAYERS * length * (8 * width + 2 * wide + MINILM_HEADS * length)
    pieces = ModelSize(0, 0)
    if config.word_vectors:  # the bag of word piece vectors, without a layer of its own
        pieces = bag_of_embeddings_size(BagOfEmbeddingsConfig(embedding_dim=config.word_vectors),
                                        {"vocab_size": MINILM_VOCABULARY, "max_length": length, "n_outputs": 0})
    head = linear(width + config.word_vectors, spec["n_outputs"]) + pieces.parameters
    kept = 3 * (width + config.word_vectors) + pieces.activations_per_example
    if config.train_part == "head":
        return ModelSize(parameters + head, kept, encoding_per_example=numbers, trained_parameters=head)
    return ModelSize(parameters + head, numbers + kept)
