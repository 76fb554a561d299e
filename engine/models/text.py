"""Models for text. Inputs are (batch, length) token ids where 0 is padding and 1 an unknown word."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.layers import activation, initialise, masked_mean, sinusoidal_positions
from engine.models.zoo.bag_of_embeddings import BagOfEmbeddingsConfig
from engine.models.zoo.recurrent import RNNConfig
from engine.models.zoo.transformer import TransformerConfig

PAD = 0
BIGRAM_PRIME = 1_000_003  # spreads (first, second) word pairs over the slots


def classifier_head(in_features: int, hidden: int, act: str, dropout: float, n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden:
        layers += [nn.Linear(in_features, hidden), activation(act), nn.Dropout(dropout)]
        in_features = hidden
    return nn.Sequential(*layers, nn.Linear(in_features, n_outputs))


class BagOfEmbeddings(nn.Module):
    """fastText: average the vectors of the words and of the hashed neighbouring-word pairs, then classify."""

    def __init__(self, config: BagOfEmbeddingsConfig, vocab_size: int, n_outputs: int):
        super().__init__()
        self.words = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD)
        self.pairs = (nn.Embedding(config.bigram_buckets, config.embedding_dim, padding_idx=PAD)
                      if config.bigrams else None)
        self.head = classifier_head(config.embedding_dim, config.hidden_size, config.activation, config.dropout,
                                    n_outputs)

    def pair_ids(self, tokens: torch.Tensor) -> torch.Tensor:
        """Give back (batch, length - 1) slot ids of neighbouring pairs; slot 0 where either word is padding."""
        first, second = tokens[:, :-1], tokens[:, 1:]
        slots = (first * BIGRAM_PRIME + second) % (self.pairs.num_embeddings - 1) + 1
        return torch.where((first != PAD) & (second != PAD), slots, PAD)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (batch, length) -> vectors (batch, length [+ length - 1], dim) -> mean (batch, dim)
        ids, vectors = tokens, self.words(tokens)
        if self.pairs is not None:
            pairs = self.pair_ids(tokens)
            ids, vectors = torch.cat([tokens, pairs], 1), torch.cat([vectors, self.pairs(pairs)], 1)
        return self.head(masked_mean(vectors, ids != PAD))  # (batch, n_outputs)


class RecurrentClassifier(nn.Module):
    """An LSTM or GRU over the word vectors; its outputs are averaged over the real (non-padding) words."""

    def __init__(self, config: RNNConfig, cell: type[nn.RNNBase], vocab_size: int, n_outputs: int):
        super().__init__()
        self.words = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD)
        self.rnn = cell(config.embedding_dim, config.hidden_size, num_layers=config.num_layers, batch_first=True,
                        bidirectional=config.bidirectional,
                        dropout=config.dropout if config.num_layers > 1 else 0.0)
        directions = 2 if config.bidirectional else 1
        self.head = classifier_head(config.hidden_size * directions, 0, "relu", config.dropout, n_outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (batch, length) -> outputs (batch, length, hidden × directions) -> mean (batch, hidden × dirs)
        outputs, _ = self.rnn(self.words(tokens))
        return self.head(masked_mean(outputs, tokens != PAD))  # (batch, n_outputs)


class TransformerClassifier(nn.Module):
    """A pre-norm Transformer encoder over word vectors plus positions, averaged over the real words."""

    def __init__(self, config: TransformerConfig, vocab_size: int, max_length: int, n_outputs: int):
        super().__init__()
        self.words = nn.Embedding(vocab_size, config.d_model, padding_idx=PAD)
        if config.positional_encoding == "learned":
            self.positions = nn.Parameter(torch.zeros(max_length, config.d_model))
            nn.init.normal_(self.positions, std=0.02)
        else:
            self.register_buffer("positions", sinusoidal_positions(max_length, config.d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(config.d_model, config.n_heads, config.ff_size, config.dropout,
                                           activation=activation(config.activation), batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, norm=nn.LayerNorm(config.d_model),
                                             enable_nested_tensor=False)
        self.head = classifier_head(config.d_model, 0, "relu", config.dropout, n_outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (batch, length) -> (batch, length, d_model) -> mean over real words (batch, d_model)
        padding = tokens == PAD
        padding[:, 0] = False  # an all-padding text would leave attention nothing to look at
        x = self.words(tokens) + self.positions[: tokens.shape[1]]
        x = self.encoder(x, src_key_padding_mask=padding)
        return self.head(masked_mean(x, ~padding))  # (batch, n_outputs)


def build_bag_of_embeddings(config: BagOfEmbeddingsConfig, spec: dict[str, Any]) -> nn.Module:
    model = BagOfEmbeddings(config, spec["vocab_size"], spec["n_outputs"])
    return initialise(model, config.init, config.activation)


def build_lstm(config: RNNConfig, spec: dict[str, Any]) -> nn.Module:
    return initialise(RecurrentClassifier(config, nn.LSTM, spec["vocab_size"], spec["n_outputs"]), config.init)


def build_gru(config: RNNConfig, spec: dict[str, Any]) -> nn.Module:
    return initialise(RecurrentClassifier(config, nn.GRU, spec["vocab_size"], spec["n_outputs"]), config.init)


def build_transformer(config: TransformerConfig, spec: dict[str, Any]) -> nn.Module:
    model = TransformerClassifier(config, spec["vocab_size"], spec["max_length"], spec["n_outputs"])
    return initialise(model, config.init, config.activation)
