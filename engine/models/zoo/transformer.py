"""The Transformer encoder for texts: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from engine.models.configs import Activation, ModelConfigBase, activation_field, dropout_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear


class TransformerConfig(ModelConfigBase):
    """A Transformer encoder: every word looks at every other word through attention."""

    name: Literal["transformer"] = "transformer"
    d_model: int = Field(64, ge=8, le=2048, title="Width", description="Numbers that describe each word inside the model.")
    n_heads: int = Field(4, ge=1, le=32, title="Attention heads",
                         description="Independent ways each word looks at the others; must divide the width.")
    n_layers: int = Field(2, ge=1, le=24, title="Layers", description="Attention layers stacked on one another.")
    ff_size: int = Field(128, ge=8, le=8192, title="Feed-forward width",
                         description="Neurons in the small network inside each layer.")
    positional_encoding: Literal["learned", "sinusoidal"] = Field(
        "learned", title="Word positions",
        description="How the model knows word order: learned vectors, or fixed sine waves.",
        json_schema_extra={"option_labels": {"learned": "Learned", "sinusoidal": "Fixed (sine waves)"}})
    activation: Activation = activation_field("gelu")
    dropout: float = dropout_field(0.1)

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"the width ({self.d_model}) must be a multiple of the attention heads ({self.n_heads})")
        return self


def transformer_size(config: TransformerConfig, spec: dict[str, Any]) -> ModelSize:
    d, ff, length = config.d_model, config.ff_size, spec["max_length"]
    layer = linear(d, 3 * d) + linear(d, d) + linear(d, ff) + linear(ff, d) + 2 * (2 * d)  # attention, ff, 2 norms
    parameters = spec["vocab_size"] * d + config.n_layers * layer + 2 * d + linear(d, spec["n_outputs"])
    if config.positional_encoding == "learned":
        parameters += length * d
    per_layer = length * (10 * d + 2 * ff) + config.n_heads * length * length
    return ModelSize(parameters, config.n_layers * per_layer + length * d)


PRESETS = {"Quick": dict(d_model=32, n_layers=1, ff_size=64), "Balanced": dict(d_model=64, n_layers=2),
           "Best": dict(d_model=128, n_layers=4, ff_size=256)}

MODEL = ModelEntry(
    name="transformer", title="Transformer encoder", config=TransformerConfig,
    builder="engine.models.text:build_transformer", size=transformer_size, kinds=("text",), order=90,
    presets=PRESETS,
    description="Attention between all words at once; strongest with plenty of text, slower on a CPU.")
