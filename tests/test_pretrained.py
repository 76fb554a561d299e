"""The pretrained picture model: weights from its package, few-shot learning, cached features, export, the zoo."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from engine.config import RunConfig, validate_run_config
from engine.data.ingest import add_dataset
from engine.data.prepare import prepare_dataset
from engine.data.prepared import features_path
from engine.errors import UserError
from engine.models import registry
from engine.models.registry import MODELS, build_model, model_label
from engine.presets import preset_for, suggested_model
from engine.training.encoded import trainable
from engine.training.loop import make_optimizer, train
from tests.conftest import cli, shapes_zip
from tests.trained import train_run

CPU = torch.device("cpu")
def pretrained_config(**model) -> RunConfig:
    return validate_run_config({"model": {"name": "efficientnet_lite0", "resolution": 96, **model},
                                "training": {"epochs": 40, "batch_size": 16, "learning_rate": 3e-3}})


@pytest.mark.slow
def test_the_network_takes_every_pretrained_weight_from_its_package():
    from engine.models.pretrained import EfficientNetLite0, lite0_weights

    weights = lite0_weights()
    network = EfficientNetLite0(96)
    network.load_state_dict(weights)  # strict: every weight has its place and every place its weight
    assert len(weights) == len(network.state_dict()) == 294
    assert network(torch.zeros(2, 3, 96, 96)).shape == (2, 2048)
    # The stem's filters are ImageNet's, not a fresh draw: the same numbers for every build and seed.
    again = build_model(pretrained_config().model, {"kind": "image", "task": "classification", "channels": 1,
                                                    "height": 40, "width": 40, "n_outputs": 3}, seed=7)
    assert torch.equal(again.encoder.network._conv_stem.weight, weights["_conv_stem.weight"])


@pytest.mark.slow
def test_eight_pictures_per_class_are_enough(home, tmp_path):
    """Shapes drawn at random places: the pretrained features tell them apart after a few examples each."""
    dataset = add_dataset(shapes_zip(tmp_path / "shapes.zip", per_class=24), name="shapes")
    data = prepare_dataset(dataset, validation_fraction=0.15, test_fraction=0.5, seed=0)
    assert len(data.arrays["train"][1]) <= 3 * 9  # about 8 pictures per class to learn from
    config = pretrained_config()
    model = build_model(config.model, data.spec, seed=0)
    part, features = trainable(model, data, CPU, dataset)
    assert part is model.head and features.arrays["train"][0].shape[1] == 2048
    _, final = train(config, features, part, CPU, [])
    assert final["test_accuracy"] >= 0.85, final
    # The whole model, on pictures, answers as its head did on the cached features.
    with torch.no_grad():
        whole = model.eval()(torch.from_numpy(data.arrays["test"][0])).argmax(-1).numpy()
    assert (whole == data.arrays["test"][1]).mean() == pytest.approx(final["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_features_are_computed_once_per_data_set_and_reused(home, tmp_path):
    dataset = add_dataset(shapes_zip(tmp_path / "shapes.zip", per_class=10), name="shapes")
    first = train_run(dataset, "efficientnet_lite0", epochs=3)
    cached = features_path(dataset, "efficientnet_lite0-224")
    assert cached.exists()
    written = cached.stat().st_mtime_ns
    second = train_run(dataset, "efficientnet_lite0", epochs=3)
    assert cached.stat().st_mtime_ns == written  # read, not written again
    assert second["status"] == "completed" and second["progress"] == pytest.approx(1.0)
    # Another split of the same data set reuses it too: the cache holds every picture in stored order.
    data = prepare_dataset(dataset, 0.2, 0.2, seed=5)
    model = build_model(RunConfig.model_validate({"model": {"name": "efficientnet_lite0"}}).model, data.spec)
    calls = []
    trainable(model, data, CPU, dataset, lambda done, total, left: calls.append(done))
    assert calls == [] and first["status"] == "completed"


@pytest.mark.slow
def test_fine_tuning_gives_the_pretrained_part_a_smaller_learning_rate_and_keeps_its_statistics():
    spec = {"kind": "image", "task": "classification", "channels": 3, "height": 24, "width": 24, "n_outputs": 2}
    config = pretrained_config(train_part="all", encoder_learning_rate_share=0.1)
    model = build_model(config.model, spec, seed=0)
    optimizer = make_optimizer(model, config.training)
    assert [group["lr"] for group in optimizer.param_groups] == [3e-3, pytest.approx(3e-4)]
    before = model.encoder.network._bn0.running_mean.clone()
    stem = model.encoder.network._conv_stem.weight.clone()
    model.train()
    loss = model(torch.randn(4, 3, 24, 24)).logsumexp(-1).mean()
    loss.backward()
    optimizer.step()
    assert not torch.equal(model.encoder.network._conv_stem.weight, stem)  # the encoder learns…
    assert torch.equal(model.encoder.network._bn0.running_mean, before)  # …but keeps ImageNet's statistics


@pytest.mark.slow
def test_the_export_answers_as_the_trained_model_does(home, tmp_path):
    from engine.serving.export import export_run
    from engine.serving.predict import load_trained
    from engine.serving.runtime import OnnxModel

    dataset = add_dataset(shapes_zip(tmp_path / "shapes.zip", per_class=8), name="shapes")
    run = train_run(dataset, "efficientnet_lite0", epochs=2)
    result = export_run(run["id"], "onnx", tmp_path / "model.onnx")
    assert result["check"]["max_abs_difference"] <= result["check"]["tolerance"]
    trained = load_trained(run["id"])
    x = prepare_dataset(dataset, 0.15, 0.15, 0).arrays["test"][0]
    with torch.no_grad():
        expected = trained.model.eval()(torch.from_numpy(x)).numpy()
    got = OnnxModel(tmp_path / "model.onnx", threads=1)(x)
    # Written tolerance: a millionth of the largest answer's size, and at least 1e-4, as export checks it.
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    export_run(run["id"], "pt2", tmp_path / "model.pt2")
    program = torch.export.load(str(tmp_path / "model.pt2")).module()
    with torch.inference_mode():
        got = program(torch.from_numpy(x)).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


@pytest.mark.slow
def test_picture_sets_with_few_pictures_per_class_start_from_the_pretrained_model(home, tmp_path):
    few = add_dataset(shapes_zip(tmp_path / "few.zip", per_class=20), name="few")
    assert suggested_model(few) == "efficientnet_lite0"
    chosen = preset_for(few, "efficientnet_lite0", "Balanced")
    assert chosen.model["resolution"] == 96 and "augment_crop" not in chosen.training
    assert any("enlarged to 96 × 96" in line for line in chosen.fitted)
    assert any("not shifted at random" in line for line in chosen.fitted)
    assert not any("random shifts" in line for line in chosen.fitted)
    # The from-scratch network still gets random shifts on the same pictures.
    assert preset_for(few, "resnet_small", "Balanced").training["augment_crop"] == 4
    many = {**few, "n_rows": 3 * 2000}
    assert suggested_model(many) == "resnet_small"
    for side in (8, 28):  # tiny pictures and handwriting-sized ones start from scratch, where that wins
        small = {**few, "schema": {**few["schema"], "height": side, "width": side}}
        assert suggested_model(small) == "resnet_small"
    # Small originals stored larger have no more detail: 8 × 8 digits stored at 32 × 32 start from scratch.
    enlarged = {**few, "quality_report": {**few["quality_report"], "largest": {"width": 8, "height": 8}}}
    assert suggested_model(enlarged) == "resnet_small"
    # The command line starts from the same model and settings as the New run page.
    result = cli("train", "--dataset", "few", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["model"] == "efficientnet_lite0" and run["config"]["model"]["resolution"] == 96


@pytest.mark.slow
def test_the_models_command_lists_the_zoo_with_pretrained_models_and_defaults():
    result = cli("models", "--json")
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in json.loads(result.stdout)}
    assert set(models) == set(MODELS)
    assert models["efficientnet_lite0"]["pretrained"] and models["efficientnet_lite0"]["available"]
    assert not models["mlp"]["pretrained"] and models["mlp"]["default_for"] == ["tabular"]
    images = cli("models", "--kind", "image")
    assert images.returncode == 0 and "efficientnet_lite0" in images.stdout and "mlp " not in images.stdout
    assert "PRETRAINED" in images.stdout and "300 training pictures per class" in images.stdout
    bad = cli("models", "--kind", "sound")
    assert bad.returncode != 0 and "invalid choice: 'sound'" in bad.stderr


def test_a_missing_weights_package_is_named_with_its_install_command(monkeypatch):
    entry = dataclasses.replace(MODELS["efficientnet_lite0"], package="trainyard-no-such-package")
    monkeypatch.setitem(registry.MODELS, "efficientnet_lite0", entry)
    assert not entry.available and model_label("efficientnet_lite0").endswith("(not installed)")
    spec = {"kind": "image", "task": "classification", "channels": 1, "height": 20, "width": 20, "n_outputs": 2}
    with pytest.raises(UserError, match="pip install trainyard-no-such-package"):
        build_model(pretrained_config().model, spec)
    assert suggested_model({"kind": "image", "n_rows": 30, "schema": {"height": 40, "width": 40}}) == "resnet_small"
