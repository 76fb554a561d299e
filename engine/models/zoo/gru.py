"""The GRU for texts: its presets and registry entry; its settings and size are recurrent.py's, shared with the LSTM."""

from __future__ import annotations

from typing import Literal

from engine.models.entry import ModelEntry
from engine.models.zoo.recurrent import RNNConfig, recurrent_size


class GRUConfig(RNNConfig):
    """GRU: a lighter recurrent network than the LSTM, often as accurate."""

    name: Literal["gru"] = "gru"


PRESETS = {"Quick": dict(embedding_dim=32, hidden_size=32), "Balanced": dict(embedding_dim=64, hidden_size=64),
           "Best": dict(embedding_dim=128, hidden_size=128)}

MODEL = ModelEntry(
    name="gru", title="GRU (recurrent network)", config=GRUConfig, builder="engine.models.text:build_gru",
    size=recurrent_size(3), kinds=("text",), order=80, presets=PRESETS,
    description="Like the LSTM with a simpler memory; a little faster.")
