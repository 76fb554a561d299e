"""Model size and training memory, computed by arithmetic so the dashboard can show them without torch.

Each model's size function, in its module of engine.models.zoo, is built from the pieces here (linear, conv3x3,
stacked_linear): it counts exactly the parameters its model's nn.Module has (a test checks every one) and roughly
the numbers per example that training keeps for the backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.models.pairs import PAIRS_PER_STEP

FLOAT_BYTES = 4


@dataclass(frozen=True)
class ModelSize:
    parameters: int
    activations_per_example: int  # numbers kept per example for the backward pass; a rough count
    # Numbers computed per example once before training (a frozen pretrained encoder's features), or 0.
    encoding_per_example: int = 0
    trained_parameters: int | None = None  # those that learn, when not all of them do (a frozen encoder's do not)
    # Numbers a pair of examples keeps when the encoder is first tuned on pairs (engine.models.pairs), or 0.
    tuning_per_pair: int = 0
    # How a training step is priced (step_work, step_seconds), where the numbers it keeps and the weights it updates
    # do not price it well: the units of work per example (None: its activations), per learning weight, and the
    # step's fixed cost in steps of the calibration's smallest network (its many small operations).
    work_per_example: float | None = None
    work_per_weight: float = 1.0
    step_overhead: float = 1.0

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
    # Tuning on pairs first trains every weight with AdamW (two copies), in steps of PAIRS_PER_STEP pairs.
    trained = FLOAT_BYTES * (size.parameters if size.tuning_per_pair else size.learning)
    copies = OPTIMIZER_COPIES[optimizer] if optimizer != "sgd" or momentum > 0 else 0
    copies = max(copies, OPTIMIZER_COPIES["adamw"]) if size.tuning_per_pair else copies
    activations = FLOAT_BYTES * max(size.activations_per_example * batch_size, size.tuning_per_pair * PAIRS_PER_STEP)
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
CATEGORY_COLUMNS_AS = 11  # a category column becomes one number per value seen (up to 50) plus 'other'
DATE_COLUMNS_AS = 5  # a date column becomes the parts of it that vary (engine.data.prepare_tables.DATE_PARTS)


def dataset_spec(dataset: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Give back (spec, exact) for a stored data set: the spec it recorded, or a close guess from its schema.

    A text set's spec also holds `text_words`: [words, texts] for each bar of its report's histogram of text lengths,
    which prices a pretrained encoder's reading by the texts' own lengths (engine.models.zoo.minilm)."""
    spec, exact = _recorded_or_guessed_spec(dataset)
    histogram = (dataset.get("quality_report") or {}).get("length_histogram")
    if dataset["kind"] == "text" and histogram and len(histogram.get("edges", [])) == len(histogram["counts"]) + 1:
        edges = histogram["edges"]
        spec["text_words"] = [[(low + high) / 2, count]
                              for low, high, count in zip(edges, edges[1:], histogram["counts"])]
    return spec, exact


def _recorded_or_guessed_spec(dataset: dict[str, Any]) -> tuple[dict[str, Any], bool]:
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
        from engine.models.zoo.mlp import TABLE_WORDS

        types = [type_ for column, type_ in schema["columns"].items() if column != dataset.get("target")]
        numbers = types.count("number") + DATE_COLUMNS_AS * types.count("date")
        spec["n_features"] = (numbers + CATEGORY_COLUMNS_AS * types.count("category")
                              + TABLE_WORDS * types.count("text"))  # a word read is an input
        spec["number_columns"] = numbers  # each may also be read by range (engine.estimates)
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
# take about this long in all, by kind of data (bench/estimates.py on 2 CPU cores, Quick runs' time less their
# training's price, with the worker's next process ready: tables 0.2–1.0 s, pictures 0.5 s, texts 0.2–0.4 s
# (their reading apart), ratings 0.1 s).
RUN_START_SECONDS = {"tabular": 1.0, "image": 0.6, "text": 0.5, "ratings": 0.5}
# A forward pass is about a third of the work of a training step (the backward pass costs about twice as much).
FORWARD_SHARE = 1 / 3
# Each epoch also writes its figures and a checkpoint: about this long for a small model.
EPOCH_SECONDS = 0.02


def step_work(size: ModelSize, batch_size: int) -> float:
    """Give back the units of work of one training step: the numbers a batch keeps, plus one update per weight
    (or the model's own prices of them)."""
    per_example = size.activations_per_example if size.work_per_example is None else size.work_per_example
    return float(batch_size * per_example + size.work_per_weight * size.learning)


def step_seconds(work: float, calibration: dict[str, float], overhead: float = 1.0) -> float:
    """Give back the seconds of one optimiser step of work units, from a calibration; overhead: the step's fixed
    cost in steps of the calibration's smallest network."""
    return overhead * calibration["seconds_per_step"] + work * calibration["seconds_per_unit"]


def training_steps(n_train: int, batch_size: int, epochs: int) -> int:
    """Give back the optimiser steps of a run: whole batches per epoch (the last one may be short)."""
    return epochs * max(1, -(-n_train // batch_size))


def training_seconds(size: ModelSize, n_train: int, batch_size: int, epochs: int, calibration: dict[str, float],
                     share: float = 1.0) -> float:
    """Give back the seconds of a run's training steps and epochs, from a calibration's seconds per step and per unit
    of work; share: the share of its steps the run takes (early stopping may end it sooner)."""
    per_step = step_seconds(step_work(size, batch_size), calibration, size.step_overhead)
    steps = training_steps(n_train, batch_size, epochs) * share
    return steps * per_step * (1 + EVALUATION_SHARE) + epochs * share * EPOCH_SECONDS


def encoding_seconds(size: ModelSize, n_rows: int, calibration: dict[str, float]) -> float:
    """Give back the seconds a frozen pretrained encoder takes to read n_rows examples once: a forward pass alone,
    about a third of a training step's work."""
    return n_rows * size.encoding_per_example * calibration["seconds_per_unit"] * FORWARD_SHARE


# Priced as the numbers its two texts keep, a pair's tuning step took 2.3–2.8 times its price on 2 CPU cores (640
# pairs of MiniLM: 80–82 s against 32–34 s for 60 food reviews, 25–28 s against 10–11 s for 60 tweets), the
# attention's backward pass and AdamW's update of every weight coming on top. Priced at three times them, the
# same tunings took 0.7–1.2 times their price (the measurement of the computer itself varies by a fifth).
TUNING_WORK = 3


def tuning_seconds(size: ModelSize, n_pairs: int, calibration: dict[str, float]) -> float:
    """Give back the seconds of tuning an encoder on n_pairs pairs first, in steps of PAIRS_PER_STEP pairs that
    train every weight, or 0 for a model that does not."""
    if not size.tuning_per_pair:
        return 0.0
    steps = -(-n_pairs // PAIRS_PER_STEP)
    return steps * step_seconds(TUNING_WORK * PAIRS_PER_STEP * size.tuning_per_pair + size.parameters, calibration)


def time_estimate(size: ModelSize, n_train: int, batch_size: int, epochs: int, calibration: dict[str, float],
                  n_rows: int = 0, share: float = 1.0, kind: str = "tabular") -> float:
    """Give back the seconds a run should take: its start, the encoder's reading of n_rows examples (all of the
    data set's, when a frozen pretrained encoder has not read them yet) and its training at share of its steps."""
    return (RUN_START_SECONDS[kind] + encoding_seconds(size, n_rows, calibration)
            + training_seconds(size, n_train, batch_size, epochs, calibration, share))

