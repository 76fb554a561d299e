"""What the registry knows of one model: each module of engine.models.zoo describes its model as one ModelEntry.

Pure Python, no torch: the dashboard reads these entries to list the models, render their forms and price a run.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.models.configs import ModelConfigBase
from engine.models.estimate import ModelSize


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """One model of the zoo: its settings, how to build it, its size, the data it fits and its presets."""

    name: str  # the key of the registry, of `--model` and of the config's `name`
    title: str
    config: type[ModelConfigBase]
    builder: str  # "module:function", imported only when a model is built (keeps torch out of the dashboard)
    size: Callable[[Any, dict[str, Any]], ModelSize]  # parameters and activations, without torch
    kinds: tuple[str, ...]
    description: str
    order: int  # its place in the lists of models; the zoo's modules leave gaps of 10 for new ones
    # Per preset name (Quick, Balanced, Best): the model settings the preset starts from.
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per preset name: training settings this model wants instead of its kind's (engine.presets.TRAINING).
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The reason the New run page gives when it suggests this model ("…, because <why>"); None: its kind's reason.
    why: str | None = None
    package: str | None = None  # the installed package that carries a pretrained model's weights
    needs: tuple[str, ...] = ()  # other modules it needs that are not in every installation
    install: str | None = None  # the command that installs what it needs, when plain `pip install package` is not it
    reads_word_pieces: bool = False  # a pretrained text model reads texts as its own tokenizer's word pieces

    @property
    def pretrained(self) -> bool:
        return self.package is not None

    @property
    def folder(self) -> Path | None:
        """Give back the folder of the installed package that carries the weights, found without importing it."""
        found = importlib.util.find_spec(self.package.replace("-", "_")) if self.package else None
        return Path(found.submodule_search_locations[0]) if found and found.submodule_search_locations else None

    @property
    def available(self) -> bool:
        """Whether this machine has what the model needs (a pretrained model: its weights' package)."""
        return (self.package is None or self.folder is not None) and all(
            importlib.util.find_spec(module) is not None for module in self.needs)

    @property
    def install_command(self) -> str | None:
        return self.install or (f"pip install {self.package}" if self.package else None)
