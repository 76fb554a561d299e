"""A run's whole configuration: validated once when submitted, stored as JSON with the run."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.errors import UserError
from engine.models.registry import MODELS
from engine.models.zoo.mlp import MLPConfig

# Any model's settings, told apart by their name; every model in the registry is one of them.
ModelConfig = Annotated[
    Union[tuple(entry.config for entry in MODELS.values())],
    Field(discriminator="name"),
]


def setting(default: Any, title: str, description: str, group: str, shown_when: dict[str, list] | None = None,
            option_labels: dict[str, str] | None = None, **bounds: Any) -> Any:
    """A training setting: its form group, when the form shows it, and plain labels for its choices."""
    extra: dict[str, Any] = {"group": group}
    if shown_when:
        extra["shown_when"] = shown_when
    if option_labels:
        extra["option_labels"] = option_labels
    return Field(default, title=title, description=description, json_schema_extra=extra, **bounds)


OPTIMIZER_LABELS = {"adam": "Adam", "adamw": "AdamW (Adam with decoupled weight decay)",
                    "sgd": "SGD (stochastic gradient descent)", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
SCHEDULE_LABELS = {"constant": "Constant", "step": "Step down every few epochs", "cosine": "Cosine (smooth decay)",
                   "one_cycle": "One cycle (rise, then decay)"}
PRECISION_LABELS = {"auto": "Automatic (on with a GPU)", "off": "Off (full 32-bit precision)",
                    "bf16": "bfloat16", "fp16": "float16 with loss scaling"}
STRATEGY_LABELS = {"ddp": "Each process keeps the whole model (DDP)",
                   "fsdp": "The model's weights are split between the processes (FSDP, for models too big for one "
                           "device)"}
LR_SCALING_LABELS = {"linear": "In proportion to the processes", "sqrt": "By the square root of the processes",
                     "constant": "Not at all"}
LAUNCHER_LABELS = {"worker": "Trainyard's workers", "torchrun": "My cluster's scheduler, with torchrun"}
EARLY_STOP_LABELS = {"val_loss": "Validation loss", "val_score": "Validation accuracy, or error for numbers"}


# The folded sections of the New run form, in order; each training setting names its group.
TRAINING_GROUPS = {"optimizer": "Optimizer", "schedule": "Learning-rate schedule",
                   "regularisation": "Against over-fitting", "hardware": "Device, speed and repeatability",
                   "parallel": "Hardware: several processes or machines"}


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- basics
    epochs: int = setting(20, "Epochs", "How many times training goes through the whole training split.",
                          "basics", ge=1, le=1000)
    batch_size: int = setting(64, "Batch size", "Examples per training step; larger is faster but needs more memory.",
                              "basics", ge=1, le=65536)
    learning_rate: float = setting(1e-3, "Learning rate",
                                   "Step size of each weight update; lower it if the loss jumps or becomes NaN.",
                                   "basics", gt=0, le=10)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = setting(
        "adam", "Optimizer", "The rule that updates the weights after each step.", "basics",
        option_labels=OPTIMIZER_LABELS)

    # --- optimiser
    momentum: float = setting(0.9, "Momentum", "Share of the previous update carried into the next one (SGD).",
                              "optimizer", {"optimizer": ["sgd"]}, ge=0, lt=1)
    nesterov: bool = setting(False, "Nesterov momentum",
                             "Look ahead along the momentum before measuring the slope; often a little better.",
                             "optimizer", {"optimizer": ["sgd"]})
    weight_decay: float = setting(0.0, "Weight decay", "Pull of the weights towards zero per step, against over-fitting.",
                                  "optimizer", ge=0, le=1)
    grad_clip: float = setting(0.0, "Gradient clipping", "Largest allowed gradient norm; 0 turns clipping off.",
                               "optimizer", ge=0, le=1000)

    # --- learning-rate schedule
    lr_schedule: Literal["constant", "step", "cosine", "one_cycle"] = setting(
        "constant", "Learning-rate schedule", "How the learning rate changes during training.", "schedule",
        option_labels=SCHEDULE_LABELS)
    warmup_epochs: float = setting(0.0, "Warm-up (epochs)",
                                   "Epochs over which the learning rate rises from near zero to its full value.",
                                   "schedule", {"lr_schedule": ["constant", "step", "cosine"]}, ge=0, le=100)
    step_every_epochs: int = setting(10, "Step every (epochs)", "Epochs between two drops of the learning rate.",
                                     "schedule", {"lr_schedule": ["step"]}, ge=1, le=1000)
    step_factor: float = setting(0.1, "Step factor", "What each drop multiplies the learning rate by.",
                                 "schedule", {"lr_schedule": ["step"]}, gt=0, lt=1)

    # --- regularisation
    label_smoothing: float = setting(0.0, "Label smoothing",
                                     "Share of confidence moved from the right class to the others, against "
                                     "over-confident models.", "regularisation", {"task": ["classification"]},
                                     ge=0, le=0.5)
    early_stopping_patience: int = setting(0, "Early stopping patience (epochs)",
                                           "Stop when the watched score has not improved for this many epochs; "
                                           "0 turns early stopping off.", "regularisation", ge=0, le=1000)
    early_stopping_metric: Literal["val_loss", "val_score"] = setting(
        "val_loss", "Early stopping watches", "The validation figure that must keep improving.", "regularisation",
        option_labels=EARLY_STOP_LABELS)
    keep_best: bool = setting(False, "Keep the best epoch",
                              "At the end, go back to the weights of the epoch with the best value of the figure "
                              "early stopping watches, instead of the last epoch's. Worth it with early stopping; "
                              "on a small validation split the best epoch is partly luck.", "regularisation")
    average_epochs: float = setting(0.0, "Average the recent weights (epochs)",
                                    "Judge and keep a running average of the weights over about this many recent "
                                    "epochs instead of the latest weights alone: steadier, often a little more "
                                    "accurate. 0 turns it off.", "regularisation", ge=0, le=100)
    augment_flip: bool = setting(False, "Random flips", "Mirror half of the training images left to right.",
                                 "regularisation", {"kind": ["image"]})
    augment_crop: int = setting(0, "Random shifts (pixels)",
                                "Move training images by up to this many pixels in each direction; 0 is off.",
                                "regularisation", {"kind": ["image"]}, ge=0, le=16)

    # --- hardware and repeatability
    device: str = setting("auto", "Device",
                          "'auto' picks a GPU when there is one, else the CPU; or 'cpu', 'cuda', 'cuda:1'.",
                          "hardware")
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = setting(
        "auto", "Mixed precision", "Compute in 16-bit numbers where safe: faster and lighter on a GPU.", "hardware",
        option_labels=PRECISION_LABELS)
    compile: bool = setting(False, "Compile the model",
                            "Turn the model into faster code first; the first steps take longer. Helps most on a GPU.",
                            "hardware")
    seed: int = setting(0, "Seed", "Makes the run repeatable: the same seed gives the same result.", "hardware",
                        ge=0, le=2**31 - 1)
    init_from: int | None = setting(
        None, "Start from run", "Start from the trained weights of this earlier, finished run of the same model (on "
        "this data set or another one) instead of fresh ones; its last layer starts afresh when the labels differ.",
        "start", ge=1)
    processes: int = setting(
        1, "Processes per machine", "Train on this many processes at once, each taking its share of every step's "
        "examples: one per GPU, or up to one per core on a CPU. Each step then sees processes × batch size examples.",
        "parallel", ge=1, le=64)
    machines: int = setting(
        1, "Machines", "Spread the run over this many machines, each running a worker on the same shared database "
        "(PostgreSQL); the run starts when enough workers are free.", "parallel", ge=1, le=64)
    strategy: Literal["ddp", "fsdp"] = setting(
        "ddp", "How the processes share the model", "With several processes: each keeps a whole copy of the model "
        "(fastest), or the weights, gradients and optimizer state are split between them (for models that do not "
        "fit on one device).", "parallel", option_labels=STRATEGY_LABELS)
    lr_scaling: Literal["linear", "sqrt", "constant"] = setting(
        "linear", "Learning rate with several processes", "More processes make each step see more examples, so the "
        "learning rate grows with them: in proportion (the usual rule), by the square root (gentler, for very large "
        "steps) or not at all.", "parallel", option_labels=LR_SCALING_LABELS)
    launcher: Literal["worker", "torchrun"] = setting(
        "worker", "Who starts the processes", "Trainyard's workers start them, or your cluster's own scheduler "
        "(Slurm, Kubernetes) does, with the torchrun command the run's page shows; the workers then leave the run "
        "alone.", "parallel", option_labels=LAUNCHER_LABELS)
    log_every: int = setting(10, "Log every (steps)", "How often, in training steps, the training loss is recorded "
                             "(and after the first step, so the curve starts at once).", "hardware", ge=1, le=100000)

    @property
    def total_processes(self) -> int:
        """The processes that train the run together, over all its machines."""
        return self.processes * self.machines

    def learning_rate_factor(self, processes: int) -> float:
        """Give back what the learning rate is multiplied by when processes share each step (lr_scaling)."""
        return {"linear": float(processes), "sqrt": math.sqrt(processes), "constant": 1.0}[self.lr_scaling]

    def parallel_words(self) -> str:
        """Give back, in words, what several processes make of a step: its examples and its learning rate."""
        processes = self.total_processes
        how = f"{self.machines} machines × {self.processes}" if self.machines > 1 else f"{self.processes}"
        factor = self.learning_rate_factor(processes)
        rate = (f"learning rate {self.learning_rate:.3g} × {factor:.3g} = {self.learning_rate * factor:.3g}"
                if factor != 1 else f"learning rate {self.learning_rate:.3g}, not scaled")
        return (f"{how} processes × {self.batch_size} = {processes * self.batch_size} examples per step; "
                f"{rate}.")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("use 'auto', 'cpu', 'cuda', or 'cuda:N' where N is the number of the GPU")
        return value

    @model_validator(mode="after")
    def _nesterov_needs_sgd_momentum(self):
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("Nesterov momentum works only with the SGD optimizer and a momentum above 0")
        return self


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation_fraction: float = Field(0.15, ge=0.05, le=0.5, title="Validation share",
                                       description="Fraction of rows held out to watch progress during training.")
    test_fraction: float = Field(0.15, ge=0.05, le=0.5, title="Test share",
                                 description="Fraction of rows held out to grade the final model.")
    seed: int = Field(0, ge=0, le=2**31 - 1, title="Split seed",
                      description="The same seed always gives the same split.")
    folds: int = Field(1, ge=1, le=20, title="Cross-validation folds",
                       description="Before the run's own model, train this many more, each scored on a different "
                                   "fold of the rows outside the test split, to see how steady the score is; "
                                   "1 turns cross-validation off.")

    @model_validator(mode="after")
    def _leaves_training_rows(self):
        if self.validation_fraction + self.test_fraction > 0.8:
            raise ValueError("validation and test shares together must leave at least 20% for training")
        return self


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelConfig = Field(default_factory=MLPConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    preset: Literal["Quick", "Balanced", "Best"] | None = Field(
        None, title="Preset", description="The preset the settings started from (engine.presets); none for older runs.")

    @model_validator(mode="after")
    def _one_process_for_what_cannot_share(self):
        t = self.training
        if t.total_processes == 1:
            return self
        if self.split.folds > 1:
            raise ValueError("cross-validation trains on one process: set split.folds to 1, or training.processes "
                             "and training.machines to 1")
        if getattr(self.model, "train_part", None) in ("head", "pairs"):
            raise ValueError("training only the last layer of a pretrained network (tuned on pairs or not) takes "
                             "minutes at most on one process: set training.processes and training.machines to 1, "
                             "or train the whole network")
        if t.strategy == "fsdp" and t.average_epochs:
            raise ValueError("averaging the recent weights needs the whole model in each process: set "
                             "training.average_epochs to 0, or let each process keep a whole copy (ddp)")
        return self


def explain_validation_error(error: ValidationError) -> str:
    """Give back the pydantic errors as short plain sentences naming the setting."""
    lines = []
    for item in error.errors():
        parts = [str(part) for part in item["loc"] if not isinstance(part, int)]
        if parts[:1] == ["model"] and len(parts) > 2 and parts[1] in MODELS:
            del parts[1]  # the model's name, which only tells the settings of one model from another's
        where = ".".join(parts)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a setting Trainyard knows"
        lines.append(f"{where or 'settings'}: {message}")
    return "; ".join(lines)


def validate_run_config(raw: dict[str, Any]) -> RunConfig:
    """Give back a validated RunConfig, or raise UserError naming each wrong setting."""
    model = raw.get("model") if isinstance(raw, dict) else None
    if isinstance(model, dict) and model.get("name") not in MODELS:
        raise UserError(f"Unknown model '{model.get('name')}'. Choose one of: {', '.join(MODELS)}.")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError("Some settings are not valid — " + explain_validation_error(error)) from None


def set_dotted(raw: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set raw['a']['b'] = value for dotted_key 'a.b' (used by `train --set`)."""
    parts = dotted_key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
