"""Typed configs of every model in the zoo. Pure pydantic: the dashboard renders its forms from these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]
Init = Literal["default", "xavier", "kaiming"]

ACTIVATION_LABELS = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU (swish)", "tanh": "tanh",
                     "leaky_relu": "Leaky ReLU"}
INIT_LABELS = {"default": "The model's usual choice", "xavier": "Xavier (Glorot)", "kaiming": "Kaiming (He)"}


def activation_field(default: str = "relu"):
    return Field(default, title="Activation", description="The function each neuron applies to its input.",
                 json_schema_extra={"option_labels": ACTIVATION_LABELS})


def dropout_field(default: float, where: str = "neurons"):
    return Field(default, ge=0.0, le=0.9, title="Dropout",
                 description=f"Fraction of {where} switched off at random during training, against over-fitting.")


def widths_field(default: list[int], what: str):
    return Field(default=default, min_length=1, max_length=8, title="Layer widths",
                 description=f"Neurons in each {what} layer, first to last (1 to 8 layers of 1 to 4096 each).")


def train_part_field(description: str):
    """What of a pretrained model trains: only its new last layer, or the whole network."""
    return Field("head", title="What to train", description=description,
                 json_schema_extra={"option_labels": {"head": "Only the last layer (fast)",
                                                      "all": "The whole network (fine-tune)"}})


def encoder_share_field(default: float):
    return Field(default, gt=0.0, le=1.0, title="Learning rate of the pretrained part",
                 description="When fine-tuning, the pretrained layers learn at this share of the learning rate, so "
                             "that what they already know is adjusted, not overwritten.")


def check_widths(widths: list[int]) -> None:
    if any(width < 1 or width > 4096 for width in widths):
        raise ValueError("each layer width must be between 1 and 4096")


class ModelConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    init: Init = Field("default", title="Weight initialisation",
                       description="How the starting weights are drawn; 'default' is the model's usual choice.",
                       json_schema_extra={"option_labels": INIT_LABELS})


# --- tables


class MLPConfig(ModelConfigBase):
    """A fully connected network for tables: a few layers of neurons between the columns and the answer."""

    name: Literal["mlp"] = "mlp"
    hidden_sizes: list[int] = widths_field([128, 64], "hidden")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.1)
    batch_norm: bool = Field(False, title="Batch normalisation",
                             description="Re-centre each layer's outputs per batch; often trains faster.")
    members: int = Field(1, ge=1, le=32, title="Networks in the ensemble",
                         description="Train this many networks side by side, each from its own starting weights, and "
                                     "average their answers: steadier results at that many times the work.")
    number_ranges: bool = Field(False, title="Read numbers by range",
                                description="Also give the network each number as the ranges it falls in "
                                            "(between the training rows' quantiles), so it can treat low, middle "
                                            "and high values differently, as decision trees do.")

    @model_validator(mode="after")
    def _widths(self):
        check_widths(self.hidden_sizes)
        return self


# --- images


class SeedCNNConfig(ModelConfigBase):
    """The brief's CIFAR network: three 3×3 convolutions (32, 64, 64 filters), two poolings, two dense layers."""

    name: Literal["seed_cnn"] = "seed_cnn"
    activation: Activation = activation_field()


class ResNetSmallConfig(ModelConfigBase):
    """A small residual network: three stages of convolutions with shortcuts and batch normalisation."""

    name: Literal["resnet_small"] = "resnet_small"
    base_width: int = Field(16, ge=4, le=256, title="Filters in the first stage",
                            description="Convolution filters in the first stage; each later stage doubles them.")
    blocks_per_stage: int = Field(1, ge=1, le=8, title="Blocks per stage",
                                  description="Residual blocks (two convolutions and a shortcut) in each stage.")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.0, "features")


class EfficientNetLite0Config(ModelConfigBase):
    """EfficientNet-Lite0 pretrained on ImageNet's 1.3 million photos, with a new last layer for your classes."""

    name: Literal["efficientnet_lite0"] = "efficientnet_lite0"
    train_part: Literal["head", "all"] = train_part_field(
        "Train only the last layer on what the pretrained network sees (its view of every picture is computed once "
        "and kept, so runs take seconds and need few pictures), or fine-tune the whole network too (slower, better "
        "with many pictures, a GPU helps).")
    resolution: int = Field(224, ge=64, le=320, multiple_of=32, title="Picture size inside the network",
                            description="Pictures are resized to this square before the network looks at them; "
                                        "224 is what it was trained on, smaller is faster.")
    dropout: float = dropout_field(0.2, "the network's features")
    encoder_learning_rate_share: float = encoder_share_field(0.1)

    @property
    def encoder_key(self) -> str:
        """Names the pretrained encoder's cached features: the same key, the same features."""
        return f"{self.name}-{self.resolution}"


# --- text


class MiniLMConfig(ModelConfigBase):
    """all-MiniLM-L6-v2, a sentence encoder pretrained on over a billion pairs of related sentences, with a new last
    layer for your classes."""

    name: Literal["minilm"] = "minilm"
    train_part: Literal["head", "all"] = train_part_field(
        "Train only the last layer on what the pretrained network understands of each text (computed once and "
        "kept, so later runs take seconds), or fine-tune the whole network too (much slower: a GPU helps).")
    word_vectors: int = Field(
        64, ge=0, le=1024, title="Word piece vector size",
        description="Beside what the pretrained network understands of a text, also learn a vector of this size "
                    "for each word piece and each pair of neighbouring pieces, as the bag of word vectors does: it "
                    "catches the words, marks and habits that tell your classes apart. 0 leaves them out.")
    dropout: float = dropout_field(0.1, "the numbers that describe each text")
    encoder_learning_rate_share: float = encoder_share_field(0.05)

    @property
    def encoder_key(self) -> str:
        """Names the pretrained encoder's cached features: the same key, the same features."""
        return self.name


class BagOfEmbeddingsConfig(ModelConfigBase):
    """fastText-like: the average of word (and word-pair) vectors, then a linear layer. Fast and strong."""

    name: Literal["bag_of_embeddings"] = "bag_of_embeddings"
    embedding_dim: int = Field(64, ge=4, le=1024, title="Vector size",
                               description="Numbers that describe each word.")
    bigrams: bool = Field(True, title="Use word pairs",
                          description="Also learn a vector for each pair of neighbouring words ('not good').")
    bigram_buckets: int = Field(20000, ge=16, le=2_000_000, title="Word-pair slots",
                                description="How many word-pair vectors to keep; pairs share slots when there are more.")
    hidden_size: int = Field(0, ge=0, le=4096, title="Hidden layer width",
                             description="Neurons in a layer between the average and the answer; 0 means none.")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.0, "the averaged vector's numbers")


class RNNConfig(ModelConfigBase):
    """Reads the text word by word and keeps a memory of what it has read."""

    embedding_dim: int = Field(64, ge=4, le=1024, title="Vector size",
                               description="Numbers that describe each word.")
    hidden_size: int = Field(64, ge=4, le=2048, title="Memory size",
                             description="Numbers the network keeps in memory while it reads.")
    num_layers: int = Field(1, ge=1, le=6, title="Layers", description="Reading layers stacked on one another.")
    bidirectional: bool = Field(True, title="Read both ways",
                                description="Also read the text from the end to the start; usually more accurate.")
    dropout: float = dropout_field(0.1, "the memory's numbers")


class LSTMConfig(RNNConfig):
    """LSTM: a recurrent network with gates that decide what to remember and what to forget."""

    name: Literal["lstm"] = "lstm"


class GRUConfig(RNNConfig):
    """GRU: a lighter recurrent network than the LSTM, often as accurate."""

    name: Literal["gru"] = "gru"


class TransformerConfig(ModelConfigBase):
    """A Transformer encoder: every word looks at every other word through attention."""

    name: Literal["transformer"] = "transformer"
    d_model: int = Field(64, ge=8, le=2048, title="Width", description="Numbers that describe each word inside the model.")
    n_heads: int = Field(4, ge=1, le=32, title="Attention heads",
                         description="Independent ways each word looks at the others; must divide the width.")
    n_layers: int = Field(2, ge=1, le=24, title="Layers", description="Attention layers stacked on one another.")
    ff_size: int = Field(128, ge=8, le=8192, title="Feed-forward width",
                         description="Neurons in the small network inside each layer.")
    positional_encoding: Literal["learned", "sinusoidal"] = Field(
        "learned", title="Word positions",
        description="How the model knows word order: learned vectors, or fixed sine waves.",
        json_schema_extra={"option_labels": {"learned": "Learned", "sinusoidal": "Fixed (sine waves)"}})
    activation: Activation = activation_field("gelu")
    dropout: float = dropout_field(0.1)

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"the width ({self.d_model}) must be a multiple of the attention heads ({self.n_heads})")
        return self


# --- ratings


class MatrixFactorizationConfig(ModelConfigBase):
    """Matrix factorisation: a rating is a user's taste vector times an item's vector, plus their biases."""

    name: Literal["matrix_factorization"] = "matrix_factorization"
    factors: int = Field(32, ge=1, le=1024, title="Taste factors",
                         description="Numbers that describe each user's taste and each item's character.")
    regularisation: float = Field(
        10.0, ge=0.0, le=1000.0, title="Pull towards the average",
        description="How strongly users and items with few ratings are held near the average rating, as if each "
                    "had this many more average ratings; against over-fitting. 0 turns it off.")


class NCFConfig(ModelConfigBase):
    """Neural collaborative filtering: factorisation and a small network over user and item vectors, combined."""

    name: Literal["ncf"] = "ncf"
    factors: int = Field(16, ge=1, le=1024, title="Taste factors",
                         description="Numbers that describe each user and each item, in each of the two parts.")
    hidden_sizes: list[int] = widths_field([64, 32], "network")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.1)

    @model_validator(mode="after")
    def _widths(self):
        check_widths(self.hidden_sizes)
        return self
