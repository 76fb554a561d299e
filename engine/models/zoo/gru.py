"""The GRU for texts: its registry entry; its settings, size and presets are recurrent.py's, shared with the LSTM."""

from __future__ import annotations

from typing import Literal

from engine.models.entry import ModelEntry
from engine.models.zoo.recurrent import RECURRENT_PRESETS, RNNConfig, recurrent_size


class GRUConfig(RNNConfig):
    """GRU: a lighter recurrent network than the LSTM, often as accurate."""

    name: Literal["gru"] = "gru"


MODEL = ModelEntry(
    name="gru", title="GRU (recurrent network)", config=GRUConfig, builder="engine.models.text:build_gru",
    size=recurrent_size(3), kinds=("text",), order=80, presets=RECURRENT_PRESETS,
    description="Like the LSTM with a simpler memory; a little faster.")
