"""The LSTM for texts: its registry entry; its settings, size and presets are recurrent.py's, shared with the GRU."""

from __future__ import annotations

from engine.models.zoo.recurrent import recurrent_entry

MODEL = recurrent_entry("lstm", gates=4, title="LSTM (recurrent network)", order=70,
                        summary="LSTM: a recurrent network with gates that decide what to remember and what to forget.",
                        description="Reads the text word by word with a gated memory; good when word order matters.")
