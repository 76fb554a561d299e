"""The model zoo: a name maps to its config class, its builder, and the kinds of data it fits."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from engine.models.configs import MLPConfig, ModelConfigBase


@dataclass(frozen=True)
class ModelEntry:
    name: str
    title: str
    config: type[ModelConfigBase]
    builder: str  # "module:function", imported only when a model is built (keeps torch out of the dashboard)
    kinds: tuple[str, ...]
    description: str


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        ModelEntry("mlp", "Multi-layer network (MLP)", MLPConfig, "engine.models.tabular:build_mlp",
                   ("tabular",), "Layers of neurons over the table's columns; the standard choice for tables."),
    ]
}

DEFAULT_MODEL = {"tabular": "mlp"}


def models_for_kind(kind: str) -> list[ModelEntry]:
    return [entry for entry in MODELS.values() if kind in entry.kinds]


def default_model(kind: str) -> str:
    return DEFAULT_MODEL[kind]


def build_model(config: ModelConfigBase, spec: dict[str, Any]):
    """Give back the nn.Module named by config.name, built for data described by spec."""
    module_name, function_name = MODELS[config.name].builder.split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder(config, spec)
