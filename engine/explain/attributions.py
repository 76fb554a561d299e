"""Per-answer explanations: what in one input pushed the model towards its answer, and how hard.

Integrated gradients (Captum) follow a straight path from a neutral input to the real one and add up, for each
part of the input, how much the answer changed along the way; the parts' shares add up to the difference between
the answer for the input and for the neutral one. The neutral input is, per kind of data:
- a row: the typical row (every number at its training median, every category at its most common value), so
  a column gets no credit for holding the usual value, and the credit of a category's slots is summed back into
  the user's column;
- a picture: all black and all white, the two results averaged — with one grey or black start alone, the parts of a
  picture that are already that colour get no credit, however much they matter (Sturmfels et al., 2020,
  "Visualizing the impact of feature attribution baselines");
- a text: every word left blank (padding), or for the pretrained text model every word piece masked
  ([MASK]), so that the text keeps its length; the credit of each word piece is added back into its word.
What is explained is the log-probability of the predicted label (or the predicted number, in the target's units).

A recommendation is explained by the items the user rated in training that sit nearest to each recommended item
in the model's own space of items (cosine similarity of the item vectors).
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch

from engine.errors import DataError
from engine.explain import APPROXIMATION
from engine.explain.credit import _answer_name, _direction, _log_answer, _pushes, _scale, _sentence, _targets
from engine.explain.recommendations import explain_recommendations, rated_by_user
from engine.serving import DEFAULT_TOP

# Steps of integrated gradients, per kind of data: each costs one forward and backward pass of the model over one
# input. Chosen so that one explanation of every sample model takes under 2 s on 2 CPU cores (the README says
# the figures); more steps barely move the result on these models (their attributions add up to the answer's
# change within a few per cent).
STEPS = {"tabular": 64, "image": 16, "text": 24}  # pictures: per start (black, white), so 32 passes in all
# The pretrained text model's cost grows with the text's length: past this many word pieces the steps shrink in
# proportion (to no fewer than MIN_STEPS), so a long text also comes back in about the time of a short one.
PIECES_AT_FULL_STEPS, MIN_STEPS = 64, 8
MAX_EXPLAINED = 32  # inputs per request: each costs STEPS passes of the model
# One explanation is many small passes over one input, and Trainyard usually trains in the background on the same
# cores: with two threads each pass waits on a core the training holds (iris: 0.6 s against 0.014 s on one thread,
# on 2 cores while another process trained). One thread is steady whether the machine is busy or not.
EXPLAIN_THREADS = 1


# ---------------------------------------------------------------- rows


def typical_row(prep: dict[str, Any]) -> np.ndarray:
    """Give back the encoded typical row: numbers at their training median, categories at their most common value."""
    from engine.data.transform import transform_inputs
    from engine.serving.inputs import TableInputs

    return transform_inputs(prep, TableInputs().example(prep))


def explain_rows(model, prep: dict[str, Any], x: np.ndarray, answers: list[dict[str, Any]],
                 raw: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    from captum.attr import IntegratedGradients

    from engine.data.prepare_tables import column_inputs
    from engine.training.examples import _describe_row

    steps = STEPS["tabular"]
    baseline = torch.from_numpy(typical_row(prep)).expand(len(x), -1)
    credit = IntegratedGradients(_log_answer(model, prep["task"] == "classification")).attribute(
        torch.from_numpy(np.ascontiguousarray(x)), baselines=baseline, target=_targets(prep, answers),
        n_steps=steps).detach().numpy() * _scale(prep)
    slots = column_inputs(prep)
    results = []
    for row, answer in enumerate(answers):
        cells = (raw.iloc[row].to_dict() if raw is not None else _describe_row(prep, x[row]))
        named = [(name, float(credit[row, where].sum()), _plain_cell(cells.get(name))) for name, where in slots]
        pushes = _pushes(prep, named)
        results.append({"method": "integrated gradients", "steps": steps, "compared_with": "a typical row",
                        "pushes": pushes,
                        "sentence": _sentence(prep, answer, pushes, "column", "compared with a typical row")})
    return results


def _plain_cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value if isinstance(value, (int, float, str, bool)) else str(value)


# ---------------------------------------------------------------- pictures


def explain_pictures(model, prep: dict[str, Any], x: np.ndarray, answers: list[dict[str, Any]],
                     raw: Any = None) -> list[dict[str, Any]]:
    from captum.attr import IntegratedGradients

    steps = STEPS["image"]
    inputs = torch.from_numpy(np.ascontiguousarray(x))
    integrated = IntegratedGradients(_log_answer(model, prep["task"] == "classification"))
    channels = inputs.shape[1]
    mean = torch.tensor(prep.get("mean") or [0.0] * channels, dtype=inputs.dtype).view(1, -1, 1, 1)
    std = torch.tensor(prep.get("std") or [1.0] * channels, dtype=inputs.dtype).view(1, -1, 1, 1)
    credit = np.zeros(x.shape, dtype=np.float64)
    for pixel in (0.0, 1.0):  # black, then white, standardised as the model reads pictures
        start = ((pixel - mean) / std).expand_as(inputs).contiguous()
        credit += integrated.attribute(inputs, baselines=start, target=_targets(prep, answers), n_steps=steps,
                                       internal_batch_size=steps).detach().numpy()
    credit *= _scale(prep) / 2
    results = []
    for row, answer in enumerate(answers):
        signed = credit[row].sum(axis=0)  # (H, W): the pixel's channels together
        strength = np.abs(credit[row]).sum(axis=0)
        peak = float(strength.max()) or 1.0
        height, width = strength.shape
        quarters = _quarters(strength)
        strongest = max(quarters, key=quarters.get)
        results.append({
            "method": "integrated gradients", "steps": steps, "compared_with": "an all-black and an all-white picture",
            "heatmap": np.round(strength / peak, 4).tolist(),
            "signed_heatmap": np.round(signed / (float(np.abs(signed).max()) or 1.0), 4).tolist(),
            "regions": {name: round(share, 4) for name, share in quarters.items()},
            "sentence": (f"The model leaned most on the {strongest} of the picture ({quarters[strongest]:.0%} of the "
                         f"credit for {_answer_name(prep, answer)})."),
            "size": [height, width]})
    return results


def _quarters(strength: np.ndarray) -> dict[str, float]:
    """Give back the share of the credit in each quarter of the picture."""
    height, width = strength.shape
    top, left = height // 2, width // 2
    total = float(strength.sum()) or 1.0
    parts = {"top left": strength[:top, :left], "top right": strength[:top, left:],
             "bottom left": strength[top:, :left], "bottom right": strength[top:, left:]}
    return {name: float(part.sum()) / total for name, part in parts.items()}


# ---------------------------------------------------------------- texts


def _words_of_ids(prep: dict[str, Any], ids: np.ndarray, text: str | None) -> list[tuple[str, list[int]]]:
    """Give back each word of an encoded text with the positions of the ids that hold it."""
    real = [position for position, token in enumerate(ids) if token != 0]
    if prep.get("word_pieces"):
        from engine.data.text import piece_tokenizer

        tokenizer = piece_tokenizer(prep["word_pieces"])
        words: list[tuple[str, list[int]]] = []
        for position in real:
            piece = tokenizer.id_to_token(int(ids[position])) or ""
            if piece in ("[CLS]", "[SEP]", "[PAD]"):
                continue
            if piece.startswith("##") and words:
                words[-1] = (words[-1][0] + piece[2:], words[-1][1] + [position])
            else:
                words.append((piece, [position]))
        return words
    from engine.data.text import tokens

    given = tokens(text)[: len(ids)] if text is not None else None
    vocabulary = prep.get("vocabulary") or []
    shown = []
    for position in real:
        if given is not None and position < len(given):
            shown.append((given[position], [position]))
        else:
            token = int(ids[position])
            shown.append((vocabulary[token - 2] if 2 <= token < len(vocabulary) + 2 else "(unknown word)",
                          [position]))
    return shown


def _text_layers(model) -> list[torch.nn.Module]:
    """Give back the embedding layers whose outputs carry each word (and word pair) into the model."""
    from engine.models.pretrained import PretrainedTextClassifier

    if isinstance(model, PretrainedTextClassifier):
        layers = [model.encoder.network.embeddings.word_embeddings]
        if model.head.pieces is not None:
            layers.append(model.head.pieces.words)
            if model.head.pieces.pairs is not None:
                layers.append(model.head.pieces.pairs)
        return layers
    layers = [model.words]
    if getattr(model, "pairs", None) is not None:
        layers.append(model.pairs)
    return layers


def explain_texts(model, prep: dict[str, Any], x: np.ndarray, answers: list[dict[str, Any]],
                  raw: list[str] | None = None) -> list[dict[str, Any]]:
    from captum.attr import LayerIntegratedGradients

    layers = _text_layers(model)
    answer_of = _log_answer(model, prep["task"] == "classification")
    pieces = bool(prep.get("word_pieces"))
    results = []
    for row, answer in enumerate(answers):
        ids = x[row]
        length = max(int(np.flatnonzero(ids).max()) + 1 if ids.any() else 1, 1)
        inputs = torch.from_numpy(np.ascontiguousarray(ids[None, :length]))
        steps = STEPS["text"]
        if pieces and length > PIECES_AT_FULL_STEPS:
            steps = max(MIN_STEPS, steps * PIECES_AT_FULL_STEPS // length)
        if pieces:
            # Masked pieces between the start and end marks keep the text's length, which the encoder reads.
            from engine.data.text import piece_tokenizer

            baseline = inputs.clone()
            baseline[:, 1:length - 1] = piece_tokenizer(prep["word_pieces"]).token_to_id("[MASK]")
        else:
            baseline = torch.zeros_like(inputs)
        with warnings.catch_warnings():
            # Captum warns whenever several layers are given; a word pair's slots come from the word ids, not
            # from the word vectors' layer, so no layer depends on another's output here.
            warnings.filterwarnings("ignore", message="Multiple layers provided")
            credit = LayerIntegratedGradients(answer_of, layers).attribute(
                inputs, baselines=baseline, target=_targets(prep, [answer]), n_steps=steps, internal_batch_size=steps)
        credit = credit if isinstance(credit, list) else [credit]
        per_position = np.zeros(length)
        for layer, layer_credit in zip(layers, credit):
            values = layer_credit.detach().sum(-1)[0].numpy()  # (positions,) or (positions - 1,) for word pairs
            if len(values) == length:
                per_position += values
            else:  # a pair's credit is shared by its two words
                per_position[:-1] += values / 2
                per_position[1:] += values / 2
        per_position *= _scale(prep)
        text = raw[row] if raw is not None else None
        words = [(word, float(per_position[where].sum())) for word, where in _words_of_ids(prep, ids[:length], text)]
        pushes = _pushes(prep, [(word, value, None) for word, value in words])
        method = ("integrated gradients on the word pieces, added up per word" if pieces
                  else "integrated gradients on the word vectors")
        results.append({"method": method, "steps": steps,
                         "compared_with": "the same text with every word left out",
                         "words": [{"word": word, "value": round(value, 6), "direction": _direction(prep, value)}
                                   for word, value in words],
                         "pushes": pushes,
                         "sentence": _sentence(prep, answer, pushes, "word", "compared with a blank text")})
    return results


# ---------------------------------------------------------------- one entry point


EXPLAIN = {"tabular": explain_rows, "image": explain_pictures, "text": explain_texts}


@contextmanager
def explaining():
    """Gradients on and PyTorch on EXPLAIN_THREADS threads while inside; both as they were afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(EXPLAIN_THREADS)
    try:
        with torch.enable_grad():
            yield
    finally:
        torch.set_num_threads(threads)


def explain_encoded(trained, x: np.ndarray, answers: list[dict[str, Any]], raw: Any = None) -> list[dict[str, Any]]:
    """Give back one explanation per encoded input x (rows, pictures, texts), beside its answer."""
    prep = trained.preprocessing
    with explaining():
        return EXPLAIN[prep["kind"]](trained.model, prep, x, answers, raw)


def explain_inputs(trained, raw: Any, names: list[str] | None = None, top: int = DEFAULT_TOP) -> list[dict[str, Any]]:
    """Give back, per raw input (rows, texts, image files' bytes, user ids), the model's answer and why it gave it.

    Each result is the prediction's answer plus `method`, `steps` where they apply, `pushes` (columns or words,
    strongest first, each with `value`: its credit, and `direction`), `heatmap` for pictures, `words` for texts,
    `because` and `recommendations` for ratings, `sentence` in plain words and `note`: that it is an approximation.
    """
    from engine.serving.predict import torch_predictor

    started = time.perf_counter()
    prep = trained.preprocessing
    predictor = torch_predictor(trained)
    count = predictor.inputs.count(raw)
    if count > MAX_EXPLAINED:
        raise DataError(f"{count:,} {predictor.inputs.noun}s were given; at most {MAX_EXPLAINED} can be explained "
                        "at once. Explain fewer at a time.")
    answers = predictor.predict(raw, names, top=top)  # says plainly what is wrong with inputs it cannot read
    if prep["kind"] == "ratings":
        explanations = explain_recommendations(trained.model, prep, answers, rated_by_user(trained.run_id, prep))
    else:
        x = predictor.inputs.encode(prep, raw)
        texts = None
        if prep["kind"] == "text":
            frame = predictor.inputs.frame(prep, raw) if not isinstance(raw, pd.DataFrame) else raw
            texts = [str(t) for t in frame[predictor.inputs.text_column(prep)]]
        explanations = explain_encoded(trained, x, answers, raw if prep["kind"] == "tabular" else texts)
    seconds = (time.perf_counter() - started) / max(count, 1)
    return [answer | explanation | {"note": APPROXIMATION, "seconds": round(seconds, 3)}
            for answer, explanation in zip(answers, explanations)]
