"""What every model's typed config shares: the base class and the fields several models use.

Each model's own config class lives in its module of engine.models.zoo. Pure pydantic: the dashboard renders its
forms from these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]
Init = Literal["default", "xavier", "kaiming"]

ACTIVATION_LABELS = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU (swish)", "tanh": "tanh",
                     "leaky_relu": "Leaky ReLU"}
INIT_LABELS = {"default": "The model's usual choice", "xavier": "Xavier (Glorot)", "kaiming": "Kaiming (He)"}


def activation_field(default: str = "relu"):
    return Field(default, title="Activation", description="The function each neuron applies to its input.",
                 json_schema_extra={"option_labels": ACTIVATION_LABELS})


def dropout_field(default: float, where: str = "neurons"):
    return Field(default, ge=0.0, le=0.9, title="Dropout",
                 description=f"Fraction of {where} switched off at random during training, against over-fitting.")


def word_vector_field(default: int = 64):
    return Field(default, ge=4, le=1024, title="Vector size", description="Numbers that describe each word.")


def widths_field(default: list[int], what: str):
    return Field(default=default, min_length=1, max_length=8, title="Layer widths",
                 description=f"Neurons in each {what} layer, first to last (1 to 8 layers of 1 to 4096 each).")


def train_part_field(description: str, pairs: str | None = None):
    """What of a pretrained model trains: only its new last layer, or the whole network; pairs, where given, labels
    a third way: the network tuned on pairs of examples first, then the last layer (engine.models.pairs)."""
    labels = {"head": "Only the last layer (fast)", **({"pairs": pairs} if pairs else {}),
              "all": "The whole network (fine-tune)"}
    return Field("head", title="What to train", description=description, json_schema_extra={"option_labels": labels})


def encoder_share_field(default: float):
    return Field(default, gt=0.0, le=1.0, title="Learning rate of the pretrained part",
                 description="When fine-tuning, the pretrained layers learn at this share of the learning rate, so "
                             "that what they already know is adjusted, not overwritten.")


def check_widths(widths: list[int]) -> None:
    if any(width < 1 or width > 4096 for width in widths):
        raise ValueError("each layer width must be between 1 and 4096")


class ModelConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    init: Init = Field("default", title="Weight initialisation",
                       description="How the starting weights are drawn; 'default' is the model's usual choice.",
                       json_schema_extra={"option_labels": INIT_LABELS})

