"""The LSTM for texts: its presets and registry entry; its settings and size are recurrent.py's, shared with the GRU."""

from __future__ import annotations

from typing import Literal

from engine.models.entry import ModelEntry
from engine.models.zoo.recurrent import RNNConfig, recurrent_size


class LSTMConfig(RNNConfig):
    """LSTM: a recurrent network with gates that decide what to remember and what to forget."""

    name: Literal["lstm"] = "lstm"


PRESETS = {"Quick": dict(embedding_dim=32, hidden_size=32), "Balanced": dict(embedding_dim=64, hidden_size=64),
           "Best": dict(embedding_dim=128, hidden_size=128)}

MODEL = ModelEntry(
    name="lstm", title="LSTM (recurrent network)", config=LSTMConfig, builder="engine.models.text:build_lstm",
    size=recurrent_size(4), kinds=("text",), order=70, presets=PRESETS,
    description="Reads the text word by word with a gated memory; good when word order matters.")
