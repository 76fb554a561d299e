"""The model zoo: a name maps to its config class, its builder, its size, the kinds of data it fits and its presets.

Each model is one module of engine.models.zoo that defines `MODEL = ModelEntry(...)`; the registry finds them all
when it is first imported, so adding a model is adding that one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.errors import UserError
from engine.models import zoo
from engine.models.configs import ModelConfigBase
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize


def discover_models(package: ModuleType = zoo) -> dict[str, ModelEntry]:
    """Give back, by name and in their order, the models that the modules of package define as MODEL.

    A module without MODEL (what several models share) is passed over. Two modules naming the same model, or a
    config whose `name` is not its model's (a run's config finds its model by that name), are errors.
    """
    entries: dict[str, ModelEntry] = {}
    for found in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        entry = getattr(importlib.import_module(found.name), "MODEL", None)
        if not isinstance(entry, ModelEntry):
            continue
        if entry.name in entries:
            raise ValueError(f"Two modules of {package.__name__} define the model '{entry.name}'.")
        name_field = entry.config.model_fields.get("name")
        if name_field is None or name_field.default != entry.name:
            raise ValueError(f"{found.name}: the config's name must default to the model's name, '{entry.name}'.")
        entries[entry.name] = entry
    return {entry.name: entry for entry in sorted(entries.values(), key=lambda entry: entry.order)}


MODELS: dict[str, ModelEntry] = discover_models()

# resnet_small for images: the Seed CNN's size (121,000 against 123,000 parameters on 32×32 colour images) at
# about 1.4× its compute per image, clearly more accurate (digits scaled to 32×32, 8 epochs, two seeds: 98.9%
# against 95–97%), and it also fits images smaller than 18×18, such as the 8×8 digits, where the Seed CNN cannot.
DEFAULT_MODEL = {"tabular": "mlp", "image": "resnet_small", "text": "bag_of_embeddings",
                 "ratings": "matrix_factorization"}


def models_for_kind(kind: str) -> list[ModelEntry]:
    return [entry for entry in MODELS.values() if kind in entry.kinds]


def model_label(name: str) -> str:
    """Give back a model's title as a choice shows it: pretrained or not, and whether it can run here."""
    entry = MODELS[name]
    return entry.title + ("" if entry.available else " (not installed)")


def package_file(name: str, relative: str) -> Path:
    """Give back a file inside the package that carries model name's weights, or say plainly how to install it."""
    entry = MODELS[name]
    if not entry.available:
        raise UserError(f"The model '{entry.title}' needs the package '{entry.package}', which is not installed "
                        f"here. Install it with: {entry.install_command}")
    return entry.folder / relative


def data_options(name: str) -> dict[str, Any]:
    """Give back what model name asks of the preparation of its data (engine.data.prepare.prepare_dataset's options)
    beyond the data set's kind: a pretrained text model reads its own word pieces."""
    return {"word_pieces": name} if MODELS[name].reads_word_pieces else {}


def default_model(kind: str) -> str:
    return DEFAULT_MODEL[kind]


def model_size(config: ModelConfigBase, spec: dict[str, Any]) -> ModelSize:
    """Give back the parameter count and activation estimate of the model config describes, for data spec."""
    return MODELS[config.name].size(config, spec)


def build_model(config: ModelConfigBase, spec: dict[str, Any], seed: int | None = None):
    """Give back the nn.Module named by config.name, built for data described by spec.

    With a seed, the starting weights are drawn from it, so the same seed always gives the same model.
    """
    module_name, function_name = MODELS[config.name].builder.split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    if seed is None:
        return builder(config, spec)
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(config, spec)
