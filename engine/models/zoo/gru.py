"""The GRU for texts: its registry entry; its settings, size and presets are recurrent.py's, shared with the LSTM."""

from __future__ import annotations

from engine.models.zoo.recurrent import recurrent_entry

MODEL = recurrent_entry("gru", gates=3, summary="GRU: a lighter recurrent network than the LSTM, often as accurate.",
                        title="GRU (recurrent network)", order=80,
                        description="Like the LSTM with a simpler memory; a little faster.")
