"""The LSTM for texts: its registry entry; its settings, size and presets are recurrent.py's, shared with the GRU."""

from __future__ import annotations

from typing import Literal

from engine.models.entry import ModelEntry
from engine.models.zoo.recurrent import RECURRENT_PRESETS, RNNConfig, recurrent_size


class LSTMConfig(RNNConfig):
    """LSTM: a recurrent network with gates that decide what to remember and what to forget."""

    name: Literal["lstm"] = "lstm"


MODEL = ModelEntry(
    name="lstm", title="LSTM (recurrent network)", config=LSTMConfig, builder="engine.models.text:build_lstm",
    size=recurrent_size(4), kinds=("text",), order=70, presets=RECURRENT_PRESETS,
    description="Reads the text word by word with a gated memory; good when word order matters.")
