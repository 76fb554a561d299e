"""Quick, Balanced and Best: the settings a run starts from, fitted to its data set, with the reasons users see.

Where presets are put together: the New run page, `train --preset`, the benches and the sweeps all read them here. A
preset is a kind's base settings, then its model's own (each model's module in engine.models.zoo gives them, with the
measurements that chose them), then what the data set's size and shape call for (decided before the run, each
decision explained in a sentence). Plain Python: the dashboard imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.errors import UserError
from engine.models.pairs import pair_count
from engine.words import listed

PRESETS = ("Quick", "Balanced", "Best")
DEFAULT_PRESET = "Balanced"
PRESET_HELP = {
    "Quick": "A short run with a small model: a first result in little time.",
    "Balanced": "Good results at a sensible cost; the usual choice.",
    "Best": "A longer run with a larger model, for the highest score; takes several times longer.",
}
# The shares of the rows a run trains and validates on unless its split says otherwise (SplitConfig's defaults).
TRAIN_SHARE, VALIDATION_SHARE = 0.7, 0.15

# Per kind of data and preset: the base training settings.
# Balanced tables: AdamW with decoupled weight decay 0.01 (as TabM and the FT-Transformer train) and label smoothing
# 0.1 (classification only; see fit_to_data) against the over-confident networks that early stopping halted after a
# few epochs on credit_scoring. Test scores, seeds 0-2, 1 CPU thread, before → after (gradient boosting):
# credit_scoring 0.8012 → 0.8087 (0.8047), hpc_jobs 0.8338 → 0.8369 (0.8441), gss_wages error 24,438 → 24,439
# (24,257); either alone: credit_scoring 0.8017 / 0.8052, hpc_jobs 0.8369 / 0.8344. Tried and left out: a learning
# rate of 3e-4 (hpc_jobs 0.8236), 2e-3 with both (credit_scoring 0.8047, hpc_jobs 0.8415), layers of [256, 256]
# (0.7997, 0.8323), and each number's ranges turned into 16 numbers by a layer of its own before the network
# (Gorishniy et al. 2022; hpc_jobs 0.8369 against 0.8390, credit_scoring lower on 2 seeds of 2).
# Elsewhere, same seeds: telco_churn 0.8054 → 0.8083, ames_housing error 23,595 → 23,808 (± 1,940 over seeds),
# diabetes 62.9 → 62.8; iris, wine and breast_cancer unchanged.
# 60 epochs rather than 40, with 16 networks in the ensemble rather than 8 (engine/models/zoo/mlp.py): hpc_jobs ran all
# 40 epochs still improving. Test scores, seeds 0-2, 1 thread (gradient boosting): hpc_jobs 0.8369 → 0.8446 (0.8441),
# credit_scoring 0.8087 → 0.8062 (0.8047), telco_churn 0.8083 → 0.8105 (0.7956), ames_housing error 23,808 → 23,533
# (24,387). Tried and left out: 80 epochs with 8 networks (hpc_jobs 0.8472 but credit_scoring 0.8002), a constant
# learning rate that early stopping ends (credit_scoring 0.8062, hpc_jobs 0.8385), 32 networks (0.8017 on
# credit_scoring) and layers of [256, 128] (0.7982).
# The run judges, keeps and ends with an average of its recent weights, over about 2 epochs (engine.training.loop:
# weight_average has the measurements): early stopping ends credit_scoring after 20-30 epochs, while the learning
# rate is still high and the latest weights still jump from step to step.
# Best: 32 networks over up to 100 epochs, early stopping after 25 without progress. With 60 epochs its hpc_jobs runs
# went on to epoch 51-57, still improving. Test scores, seeds 0-2, 2 threads, 60 → 100 epochs (gradient boosting):
# hpc_jobs 0.8431 → 0.8477 (0.8441), stopping after 54-63 epochs; credit_scoring 0.8052 → 0.8062 (0.8047).
TABLE_TRAINING = dict(epochs=60, batch_size=32, learning_rate=1e-3, lr_schedule="cosine", warmup_epochs=0.0,
                      optimizer="adamw", weight_decay=1e-2, label_smoothing=0.1, average_epochs=2.0)
RATINGS_TRAINING = dict(epochs=10, batch_size=256, learning_rate=5e-3, lr_schedule="cosine", warmup_epochs=0.0)
TRAINING: dict[str, dict[str, dict[str, Any]]] = {
    "tabular": {
        "Quick": dict(epochs=10, batch_size=32, learning_rate=3e-3, lr_schedule="constant", warmup_epochs=0.0),
        "Balanced": TABLE_TRAINING,
        "Best": TABLE_TRAINING | dict(epochs=100),  # the larger ensemble is engine/models/zoo/mlp.py's
    },
    "image": {
        "Quick": dict(epochs=3, batch_size=64, learning_rate=3e-3, lr_schedule="one_cycle"),
        "Balanced": dict(epochs=10, batch_size=64, learning_rate=1e-3, lr_schedule="cosine", warmup_epochs=0.5),
        "Best": dict(epochs=30, batch_size=64, learning_rate=1e-3, lr_schedule="cosine", warmup_epochs=1.0,
                     weight_decay=5e-4),
    },
    "text": {
        "Quick": dict(epochs=3, batch_size=64, learning_rate=3e-3, lr_schedule="constant", warmup_epochs=0.0),
        "Balanced": dict(epochs=8, batch_size=64, learning_rate=2e-3, lr_schedule="cosine", warmup_epochs=0.0),
        "Best": dict(epochs=20, batch_size=64, learning_rate=1e-3, lr_schedule="cosine", warmup_epochs=1.0),
    },
    "ratings": {
        "Quick": dict(epochs=3, batch_size=256, learning_rate=1e-2, lr_schedule="constant", warmup_epochs=0.0),
        # Best's four factorisations (engine/models/zoo/matrix_factorization.py) train as Balanced's one, with as
        # many steps at least: trained longer, a factorisation got worse after about 20 epochs.
        "Balanced": RATINGS_TRAINING,
        "Best": RATINGS_TRAINING,
    },
}
# A small data set gives few steps per epoch: each preset trains at least this many steps (more epochs), up to
# MAX_EPOCHS, and Balanced and Best stop early once the validation figure stops improving. Tables need fewer: a
# table network on 400 rows got worse from 40 to 116 epochs (breast cancer sample, 96.1 % → 95.3 %, 3 seeds), where
# a picture network on 140 pictures needs hundreds of steps to learn at all. Best tables ask for no more steps than
# Balanced ones, so a small table trains its preset's epochs: at 1,500 steps the small samples ran 116-375 epochs
# and lost to Balanced (3 seeds: breast cancer 95.3 % against 95.7 %, diabetes error 62.9 against 58.0).
# Best's 100 epochs are there for early stopping to choose the best among: where the validation rows are too few for
# that (MIN_VALIDATION_ROWS), a table trains Balanced's epochs. Best, 3 seeds, 100 epochs → Balanced's (gradient
# boosting): breast cancer 95.35 → 96.12 % (95.74), CPS1985 wages error 4.179 → 4.132 (4.136), diabetes 57.5 → 56.8
# (59.6); Auto 2.674 → 2.691 (2.678), Hitters 285.5 → 287.6 (294.7), Carseats 1.201 → 1.206 (1.470); Boston,
# biopsy and penguins within 0.1 %; iris, wine, Pima.tr, birthwt and crabs train 100 epochs or more for their steps
# either way. Ahead of gradient boosting on 10 of these 14 small tables rather than 9.
MIN_STEPS = {"tabular": {"Quick": 100, "Balanced": 500, "Best": 500},
             "image": {"Quick": 200, "Balanced": 1500, "Best": 4000},
             "text": {"Quick": 200, "Balanced": 1500, "Best": 4000},
             "ratings": {"Quick": 200, "Balanced": 1500, "Best": 1500}}
MAX_EPOCHS = {"Quick": 30, "Balanced": 300, "Best": 600}
EARLY_STOPPING = {"Balanced", "Best"}
# Below this many validation rows the best epoch is mostly luck: breast cancer sample (85 validation rows), 3 seeds,
# 96.1 % test accuracy after all 40 epochs against 94.2 % with the best epoch kept; diabetes (66 rows) error 56.7
# against 59.5. Such runs train all their epochs, which end on a small learning rate.
MIN_VALIDATION_ROWS = 200
# Above this many training rows a table's ensemble has a quarter of its networks: each network already sees enough
# rows to be steady, and eight of them on gss_wages (26,500 rows) took 7 minutes on 2 busy cores; four of them, 60
# epochs at most, stopped early after 25 in 72 s (test error 24,666 against gradient boosting's 24,738, seed 0).
LARGE_TABLE_ROWS = 10_000
LARGE_TABLE_SHARE = 4  # …of the networks: one in this many

# Picture sets suit the pretrained network when their pictures have at least this many pixels of detail on a side
# and at most this many training pictures per class. Below 32 pixels the pictures hold little of what it learned
# from photos: on handwritten digits the small ResNet from scratch wins at every size (mnist_5k, 28 × 28, 3 seeds:
# 4 per class 77.6 % against 74.7 %, 8: 89.6 % against 81.2 %, 32: 95.4 % against 90.8 %, all 98.4 % against
# 96.8 %; the 8 × 8 digits sample: 99.6 % against 97 %), though it is ahead of the classical SVC at every size
# (8 per class: 81.2 % against 75.9 %).
PRETRAINED_MIN_SIDE = 32
PRETRAINED_MAX_PER_CLASS = 300
# Text sets suit the pretrained sentence encoder up to this many texts: reading each text once takes it about 2 ms
# (a tweet) to 10 ms (a review of 270 characters) on 2 CPU cores, so 50,000 texts cost 2 to 8 minutes, once per
# data set. Larger sets start from the bag of word vectors, which learns much from so many texts in little time.
PRETRAINED_MAX_TEXTS = 50_000
# Balanced and Best tune the pretrained sentence encoder on pairs of the training texts first (engine.models.pairs)
# when there are at most this many per label: a few texts leave the frozen encoder's view too coarse to tell labels
# apart that it was never taught, such as a five-star review from a four-star one. Best tunes at every size, which
# then reads every text again rather than reusing the data set's kept reading: Best on fine_food_reviews 81.9 % →
# 83.7 %, on tweets_by_device 82.5 % → 82.4 % (TF-IDF 81.2 % and 78.0 %; bench/model_quality.py, 3 seeds).
PAIRS_MAX_PER_CLASS = 64

# Auto: a time-budgeted sweep (engine.search) over the models of a kind that train fast enough on a CPU to try
# several, and their key settings; its first trial is always the Balanced preset of the suggested model, so that
# the sweep can say by how much it beat it. The slower text networks (LSTM, GRU, Transformer) are left out: on 2
# cores one of their runs on a large text set takes most of a 10-minute budget.
AUTO_MODELS = {"tabular": ["mlp"], "image": ["efficientnet_lite0", "resnet_small"],
               "text": ["minilm", "bag_of_embeddings"], "ratings": ["matrix_factorization", "ncf"]}
AUTO_SPACE: dict[str, dict[str, Any]] = {
    "training.learning_rate": {"low": 3e-4, "high": 3e-2, "log": True},
    "training.weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    "model.dropout": {"low": 0.0, "high": 0.5, "log": False},
    "model.hidden_sizes": {"choices": [[128, 64], [256, 128], [256, 128, 64], [512, 256]]},
    "model.base_width": {"choices": [16, 24, 32]},
    "model.embedding_dim": {"choices": [64, 128]},
    "model.factors": {"choices": [16, 32, 64]},
    "model.regularisation": {"low": 1.0, "high": 100.0, "log": True},  # matrix factorisation's pull (default 10)
}


def auto_space(dataset: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Give back the models and the search space of an Auto sweep on dataset: the kind's quick models that are
    installed (the pretrained picture network only where it suits the pictures), and the settings they have."""
    from engine.models.registry import MODELS

    kind = dataset["kind"]
    models = [name for name in AUTO_MODELS[kind] if MODELS[name].available]
    if "efficientnet_lite0" in models and (picture_detail(dataset) or 0) < PRETRAINED_MIN_SIDE:
        models.remove("efficientnet_lite0")
    space = {key: spec for key, spec in AUTO_SPACE.items()
             if key.startswith("training.") or any(key.split(".", 1)[1] in MODELS[m].config.model_fields
                                                   for m in models)}
    return models, space


# Why each kind's default model is suggested; a model with a reason of its own (ModelEntry.why, such as the
# pretrained ones) gives that instead.
KIND_REASONS = {
    "tabular": "a network of a few layers is the standard, fast choice for a table of numbers and categories.",
    "image": "its shortcuts and batch normalisation make it learn pictures quickly and reliably, at any image size.",
    "text": "averaging word vectors is very fast and usually as accurate as slower models on short texts.",
    "ratings": "it learns each person's taste and each item's character from the ratings alone, and trains in seconds.",
}
SCHEDULE_REASONS = {
    "constant": "the learning rate stays the same, which is enough for a short run.",
    "step": "the learning rate drops a few times, so the model settles after learning the broad picture.",
    "cosine": "the learning rate falls smoothly, so the last epochs fine-tune instead of jumping around.",
    "one_cycle": "the learning rate rises, then falls, which gets most out of very few epochs.",
}
UNITS = {"tabular": "rows", "image": "pictures", "text": "texts", "ratings": "ratings"}


@dataclass
class Preset:
    """The settings a preset gives one model on one data set, and why they fit it."""

    name: str
    training: dict[str, Any]
    model: dict[str, Any]
    fitted: list[str] = field(default_factory=list)  # one plain sentence per decision taken from the data


def preset_named(name: str | None) -> str:
    """Give back the preset called name in any case ('best', 'Best'); no name gives Balanced."""
    if name is None or name == "":
        return DEFAULT_PRESET
    for preset in PRESETS:
        if str(name).strip().lower() == preset.lower():
            return preset
    raise UserError(f"There is no preset '{name}'. Choose one of: {', '.join(p.lower() for p in PRESETS)}"
                    " (and, for a new run, auto: a search within a time budget).")


def training_rows(dataset: dict[str, Any], train_share: float = TRAIN_SHARE) -> int:
    return max(1, round(int(dataset.get("n_rows") or 0) * train_share))


def image_side(dataset: dict[str, Any]) -> int | None:
    """Give back the shorter side, in pixels, that a picture set's pictures are stored at (None for other kinds)."""
    schema = dataset.get("schema") or {}
    sides = [schema.get("height"), schema.get("width")]
    return min(sides) if dataset.get("kind") == "image" and all(sides) else None


def class_count(dataset: dict[str, Any]) -> int:
    """Give back how many classes the data set's quality report counted, or 2 when it counted none."""
    return len((dataset.get("quality_report") or {}).get("class_counts") or {}) or 2


def many_valued(dataset: dict[str, Any]) -> str:
    """Give back the table's columns of more than MANY_CATEGORIES categories, as a sentence's subject ("'state' has
    51", "'city' and 'zip' have 37 and 68"), or "" when it has none (or its report predates the counts)."""
    from engine.models.zoo.mlp import MANY_CATEGORIES

    values = (dataset.get("quality_report") or {}).get("category_values") or {}
    many = {column: count for column, count in values.items() if count > MANY_CATEGORIES}
    if not many:
        return ""
    names, counts = [f"'{column}'" for column in many], [f"{count:,}" for count in many.values()]
    if len(many) == 1:
        return f"{names[0]} has {counts[0]}"
    return f"{listed(names)} have {listed(counts)}"


def picture_detail(dataset: dict[str, Any]) -> int | None:
    """Give back the side, in pixels, of the detail a picture set really has: its stored size, or the size of its
    largest original picture when that is smaller (8 × 8 digits stored at 32 × 32 have 8 pixels of detail)."""
    side = image_side(dataset)
    largest = (dataset.get("quality_report") or {}).get("largest") or {}
    original = [largest.get("height"), largest.get("width")]
    return min(side, *original) if side and all(original) else side


def suggested_model(dataset: dict[str, Any]) -> str:
    """Give back the model a run on dataset starts from: its kind's default, the pretrained picture network for
    picture sets with few pictures per class (see PRETRAINED_MAX_PER_CLASS), or the pretrained sentence encoder for
    text sets up to PRETRAINED_MAX_TEXTS."""
    from engine.models.registry import MODELS, default_model

    kind = dataset["kind"]
    if kind == "text" and MODELS["minilm"].available and int(dataset.get("n_rows") or 0) <= PRETRAINED_MAX_TEXTS:
        return "minilm"
    if kind == "image" and MODELS["efficientnet_lite0"].available:
        classes = class_count(dataset)
        side = picture_detail(dataset) or 0
        if side >= PRETRAINED_MIN_SIDE and training_rows(dataset) / classes <= PRETRAINED_MAX_PER_CLASS:
            return "efficientnet_lite0"
    return default_model(kind)


def network_side(side: int) -> int:
    """Give back the square a pretrained picture network looks at for pictures of side pixels: twice their size in
    steps of 32, from 96 to the 224 it was trained on. Larger adds time but no detail the pictures do not have."""
    return min(224, max(96, 32 * round(2 * side / 32)))


def preset_for(dataset: dict[str, Any], model_name: str, preset: str | None = None,
               train_share: float = TRAIN_SHARE, validation_share: float = VALIDATION_SHARE) -> Preset:
    """Give back the settings of a preset for model_name on dataset: the base ones, then what the data calls for."""
    from engine.models.registry import MODELS

    name = preset_named(preset)
    kind = dataset["kind"]
    entry = MODELS.get(model_name)  # an unknown name gets its kind's settings; validating the run config refuses it
    training = TRAINING[kind][name] | (entry.training.get(name, {}) if entry else {})
    chosen = Preset(name, dict(training), dict(entry.presets.get(name, {}) if entry else {}))
    fit_to_data(chosen, dataset, model_name, training_rows(dataset, train_share),
                training_rows(dataset, validation_share))
    return chosen


def fit_to_data(preset: Preset, dataset: dict[str, Any], model_name: str, n_train: int, n_validation: int) -> None:
    """Adjust preset's settings to the data set's size and shape, adding a sentence for each change."""
    training, kind, name = preset.training, dataset["kind"], preset.name
    unit = UNITS[kind]
    if dataset.get("task") != "classification":
        training.pop("label_smoothing", None)  # numbers to predict have no classes to smooth
    steps_per_epoch = max(1, math.ceil(n_train / training["batch_size"]))

    def for_steps(preset_name: str) -> int:  # the epochs that preset_name's least number of steps asks for
        return min(MAX_EPOCHS[preset_name], math.ceil(MIN_STEPS[kind][preset_name] / steps_per_epoch))

    wanted = for_steps(name)
    if wanted > training["epochs"]:
        preset.fitted.append(f"{n_train:,} training {unit}: {wanted} epochs instead of {training['epochs']}, so that "
                             f"the model still takes about {wanted * steps_per_epoch:,} training steps.")
        training["epochs"] = wanted
    if name in EARLY_STOPPING and n_validation < MIN_VALIDATION_ROWS:
        why = (f"Only {n_validation:,} validation {unit}: too few to tell the best epoch reliably, so the run trains "
               "all its epochs, the last ones with a small learning rate")
        balanced = max(TRAINING[kind]["Balanced"]["epochs"], for_steps("Balanced"))
        if kind == "tabular" and training["epochs"] > balanced:  # see MIN_STEPS
            training["epochs"] = balanced
            why += (f"; {balanced} epochs, as in Balanced, since more pay only where the best of them can be kept, "
                    "and so few rows are soon learnt by heart")
        preset.fitted.append(why + ".")
    elif name in EARLY_STOPPING:
        patience = max(10, round(training["epochs"] / 4))
        training.update(early_stopping_patience=patience, keep_best=True)
        preset.fitted.append(f"Early stopping after {patience} epochs without progress on the validation rows, and "
                             "the weights of the best epoch are kept, so a long run cannot end over-fitted.")
    if kind == "tabular" and preset.model.get("number_ranges", "none") != "none":
        from engine.models.zoo.mlp import (LARGE_REGRESSION_DROPOUT, NUMBER_RANGES, ROWS_PER_RANGE,
                                           SMALL_TABLE_DROPOUT, ranges_pay)

        # Only a preset that sets a dropout has it changed: Quick, whose short run was not measured with another,
        # keeps the network's own.
        dropout = preset.model.get("dropout")
        if not ranges_pay(n_train):
            preset.model["number_ranges"] = "none"
            why = (f"{n_train:,} training rows: numbers are read as they are, not also by range, as even "
                   f"{NUMBER_RANGES[0]} ranges would hold fewer than {ROWS_PER_RANGE} rows each")
            if dropout is not None and dropout < SMALL_TABLE_DROPOUT:
                preset.model["dropout"] = SMALL_TABLE_DROPOUT
                why += (f"; and the networks leave out {SMALL_TABLE_DROPOUT:.0%} of their neurons at random while "
                        "training, so that they do not learn so few rows by heart")
            preset.fitted.append(why + ".")
        elif dataset.get("task") == "regression" and dropout is not None and dropout > LARGE_REGRESSION_DROPOUT:
            preset.model["dropout"] = LARGE_REGRESSION_DROPOUT
            preset.fitted.append(f"{n_train:,} training rows and a number to predict: the networks keep all their "
                                 "neurons while training, as leaving some out at random would blur the exact figures "
                                 "they must give, and so many rows keep them from learning the rows by heart.")
    if kind == "tabular" and preset.model.get("category_trust"):
        many = many_valued(dataset)
        if many:
            preset.fitted.append(
                f"{many} different values: while training, a row's value there is hidden from the networks at random, "
                f"half the time for a value seen in {preset.model['category_trust']} training rows and seldom for a "
                "common one, so that they lean on a rare value only as far as its rows allow.")
    members = preset.model.get("members", 1)
    if kind == "tabular" and members > 2 and n_train > LARGE_TABLE_ROWS:
        fewer = max(2, members // LARGE_TABLE_SHARE)
        preset.model["members"] = fewer
        preset.fitted.append(f"{n_train:,} training rows: an ensemble of {fewer} networks instead of {members}, "
                             "as each one already learns steadily from so many rows.")
    side = image_side(dataset)
    if model_name == "efficientnet_lite0" and side:
        detail = picture_detail(dataset)
        preset.model["resolution"] = network_side(detail)
        preset.fitted.append(f"Pictures of {detail} pixels: the pretrained network looks at them enlarged to "
                             f"{preset.model['resolution']} × {preset.model['resolution']}.")
    if model_name == "minilm" and preset.model.get("train_part", "head") == "head":
        classes = class_count(dataset)
        few = n_train / classes <= PAIRS_MAX_PER_CLASS
        if name == "Best" or (name != "Quick" and few):
            preset.model["train_part"] = "pairs"
            preset.fitted.append(
                f"{n_train:,} training texts, about {n_train // classes:,} per label: the pretrained network is first "
                f"tuned on {pair_count(n_train):,} pairs of them, so that texts with the same label read alike, then "
                "its last layer learns (a few minutes on a processor, seconds on a GPU)." if few else
                f"Best: the pretrained network is first tuned on {pair_count(n_train):,} pairs of the training texts, "
                "so that texts with the same label read alike; it then reads every text again in its tuned way (a "
                "few minutes more on a processor, seconds on a GPU).")
        else:
            preset.fitted.append("The pretrained network reads each text once and keeps what it understood, so "
                                 "later runs on this data set start training at once.")
    if kind == "image" and name != "Quick" and side and preset.model.get("train_part") == "head":
        preset.fitted.append("The pretrained network's view of each picture is computed once and kept, so the "
                             "pictures are not shifted at random.")
    elif kind == "image" and name != "Quick" and side:
        shift = max(1, round(side / 10))
        training["augment_crop"] = shift
        preset.fitted.append(f"Pictures of {side} pixels: random shifts of up to {shift} pixels, so the model learns "
                             "the shapes rather than their exact place. Flips stay off: mirrored letters or digits "
                             "mean something else; turn them on for photos.")


def reasons(kind: str, model_name: str, suggested_name: str, training: dict[str, Any], n_train: int) -> list[str]:
    """Give back one sentence per suggestion: why this model, this many epochs, this batch size, this schedule."""
    from engine.models.registry import MODELS

    why = MODELS[suggested_name].why or KIND_REASONS[kind]
    if model_name == suggested_name:
        lines = [f"**{MODELS[model_name].title}**, because {why}"]
    else:
        lines = [f"**{MODELS[model_name].title}** is your choice; the suggested model, {MODELS[suggested_name].title}, "
                 f"is there because {why}"]
    steps = max(1, math.ceil(n_train / training["batch_size"]))
    lines.append(f"**{training['epochs']} epochs**: the model sees each of the {n_train:,} training examples "
                 f"{training['epochs']} times, in {steps:,} steps per epoch.")
    lines.append(f"**Batch size {training['batch_size']}**: " + (
        "larger batches keep each epoch short when there are many examples." if training["batch_size"] > 64 else
        "small batches give many updates per epoch on a small data set." if n_train < 5_000 else
        f"small batches give many updates per epoch ({steps:,} here), which this model learns best from."))
    lines.append(f"**{training['lr_schedule'].replace('_', ' ').capitalize()} schedule**: "
                 f"{SCHEDULE_REASONS[training['lr_schedule']]}")
    return lines


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Give back base with changes laid over it, nested dictionaries merged key by key."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def starting_config(dataset: dict[str, Any], model_name: str, preset: str | None = None,
                    changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Give back a raw run config: the preset's settings for this data set and model, with changes on top.

    The result still has to be validated (engine.config.validate_run_config); it records the preset's name.
    """
    changes = changes or {}
    split = changes.get("split") or {}
    validation = float(split.get("validation_fraction", VALIDATION_SHARE))
    share = 1.0 - validation - float(split.get("test_fraction", 0.15))
    chosen = preset_for(dataset, model_name, preset, train_share=max(0.05, share), validation_share=validation)
    base = {"model": {"name": model_name, **chosen.model}, "training": chosen.training, "split": {},
            "preset": chosen.name}
    return merged(base, changes)
