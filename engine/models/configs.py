"""Typed configs of every model in the zoo. Pure pydantic: the dashboard renders its forms from these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]
Init = Literal["default", "xavier", "kaiming"]


class ModelConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    init: Init = Field("default", title="Weight initialisation",
                       description="How the starting weights are drawn; 'default' is PyTorch's own choice.")


class MLPConfig(ModelConfigBase):
    """A fully connected network for tables: a few layers of neurons between the columns and the answer."""

    name: Literal["mlp"] = "mlp"
    hidden_sizes: list[int] = Field(
        default=[128, 64], min_length=1, max_length=8, title="Layer widths",
        description="Neurons in each hidden layer, first to last (1 to 8 layers of 1 to 4096 each).",
    )
    activation: Activation = Field("relu", title="Activation",
                                   description="The function each neuron applies to its input.")
    dropout: float = Field(0.1, ge=0.0, le=0.9, title="Dropout",
                           description="Fraction of neurons switched off at random during training, against over-fitting.")
    batch_norm: bool = Field(False, title="Batch normalisation",
                             description="Re-centre each layer's outputs per batch; often trains faster.")

    def model_post_init(self, _context) -> None:
        if any(width < 1 or width > 4096 for width in self.hidden_sizes):
            raise ValueError("each layer width must be between 1 and 4096")
