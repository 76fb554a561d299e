"""What the LSTM and the GRU share: their settings, their size and their presets. Not a model itself (it has no
MODEL): lstm.py and gru.py are the models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model

from engine.models.configs import ModelConfigBase, dropout_field, word_vector_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear


class RNNConfig(ModelConfigBase):
    """Reads the text word by word and keeps a memory of what it has read."""

    embedding_dim: int = word_vector_field()
    hidden_size: int = Field(64, ge=4, le=2048, title="Memory size",
                             description="Numbers the network keeps in memory while it reads.")
    num_layers: int = Field(1, ge=1, le=6, title="Layers", description="Reading layers stacked on one another.")
    bidirectional: bool = Field(True, title="Read both ways",
                                description="Also read the text from the end to the start; usually more accurate.")
    dropout: float = dropout_field(0.1, "the memory's numbers")


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


RECURRENT_PRESETS = {"Quick": dict(embedding_dim=32, hidden_size=32),
                     "Balanced": dict(embedding_dim=64, hidden_size=64),
                     "Best": dict(embedding_dim=128, hidden_size=128)}


def recurrent_entry(name: str, gates: int, summary: str, **entry: Any) -> ModelEntry:
    """Give back the registry entry of a recurrent text model whose cell has this many gates: its settings are
    RNNConfig's under its own name (summary is their description on the New run page), its presets the shared ones."""
    config = create_model(f"{name.upper()}Config", __base__=RNNConfig, __doc__=summary,
                          name=(Literal[name], name))
    return ModelEntry(name=name, config=config, builder=f"engine.models.text:build_{name}", size=recurrent_size(gates),
                      kinds=("text",), presets=RECURRENT_PRESETS, **entry)
