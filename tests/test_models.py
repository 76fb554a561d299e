"""The model zoo: shapes, exact parameter counts without torch, initialisation, and the brief's Seed CNN."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from engine.config import TrainingConfig
from engine.errors import DataError
from engine.models.estimate import dataset_spec, human_bytes, memory_estimate
from engine.models.registry import DEFAULT_MODEL, MODELS, build_model, model_size
from engine.models.zoo.mlp import MLPConfig
from tests.conftest import ROOT
from tests.factories import SPECS, inputs, model_config, spec_for

# A few settings per model that change its shape, so the arithmetic is checked beyond the defaults.
VARIANTS = [
    ("mlp", {}), ("mlp", {"hidden_sizes": [5, 9, 3], "batch_norm": True}), ("mlp", {"number_ranges": True}),
    ("mlp", {"members": 3, "batch_norm": True}),
    ("seed_cnn", {}), ("resnet_small", {}), ("resnet_small", {"base_width": 8, "blocks_per_stage": 2}),
    ("bag_of_embeddings", {}), ("bag_of_embeddings", {"bigrams": False, "hidden_size": 20}),
    ("lstm", {}), ("lstm", {"num_layers": 2, "bidirectional": False, "hidden_size": 10}),
    ("gru", {}), ("gru", {"num_layers": 3, "embedding_dim": 6}),
    ("transformer", {}), ("transformer", {"positional_encoding": "sinusoidal", "d_model": 24, "n_heads": 3}),
    ("matrix_factorization", {}), ("matrix_factorization", {"factors": 3}),
    ("matrix_factorization", {"members": 3, "rated_items": False}),
    ("ncf", {}), ("ncf", {"hidden_sizes": [7], "factors": 5}),
]


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape(name):
    spec = spec_for(name)
    model = build_model(model_config(name), spec, seed=0)
    x = torch.from_numpy(inputs(spec, 5, np.random.default_rng(0)))
    assert model(x).shape == (5, spec["n_outputs"])


@pytest.mark.parametrize(("name", "settings"), VARIANTS)
def test_arithmetic_parameter_count_equals_the_real_model(name, settings):
    config, spec = model_config(name, **settings), spec_for(name)
    model = build_model(config, spec)
    assert model_size(config, spec).parameters == sum(p.numel() for p in model.parameters())


def test_every_kind_has_a_default_model_that_fits_it():
    assert set(DEFAULT_MODEL) == set(SPECS)
    for kind, name in DEFAULT_MODEL.items():
        assert kind in MODELS[name].kinds


# A whole model in one module, as a contributor writes it in engine/models/zoo (see the README's "Adding a model").
NEW_MODEL = '''
from typing import Literal

from engine.models.configs import ModelConfigBase, dropout_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear


class TinyLinearConfig(ModelConfigBase):
    """One weight per column and answer."""

    name: Literal["tiny_linear"] = "tiny_linear"
    dropout: float = dropout_field(0.0)


def build(config, spec):
    from torch import nn

    return nn.Sequential(nn.Dropout(config.dropout), nn.Linear(spec["n_features"], spec["n_outputs"]))


MODEL = ModelEntry(
    name="tiny_linear", title="Tiny linear model", config=TinyLinearConfig,
    builder="engine.models.zoo.tiny_linear:build", kinds=("tabular",), order=15,
    size=lambda config, spec: ModelSize(linear(spec["n_features"], spec["n_outputs"]), 0),
    description="A model written by a test.", presets={"Best": dict(dropout=0.2)},
    training={"Best": dict(learning_rate=0.05)})
'''


def test_a_module_added_to_the_zoo_is_found_with_its_presets(tmp_path, monkeypatch):
    import importlib

    from engine.models import registry, zoo
    from engine.presets import preset_for

    (tmp_path / "tiny_linear.py").write_text(NEW_MODEL)
    monkeypatch.setattr(zoo, "__path__", [*zoo.__path__, str(tmp_path)])
    importlib.invalidate_caches()
    try:
        found = registry.discover_models()
        assert list(found) == ["mlp", "tiny_linear", *list(MODELS)[1:]]  # its order, 15, puts it after the MLP's 10
        assert "recurrent" not in found  # a module without MODEL holds what several models share
        monkeypatch.setitem(registry.MODELS, "tiny_linear", found["tiny_linear"])
        best = preset_for({"kind": "tabular", "task": "classification", "n_rows": 5000}, "tiny_linear", "Best")
        assert best.model == {"dropout": 0.2} and best.training["learning_rate"] == 0.05
        config, spec = found["tiny_linear"].config(), SPECS["tabular"]
        model = build_model(config, spec, seed=0)
        assert model_size(config, spec).parameters == sum(p.numel() for p in model.parameters())
    finally:  # the other tests see the zoo as it is
        sys.modules.pop("engine.models.zoo.tiny_linear", None)
        vars(zoo).pop("tiny_linear", None)


def test_every_setting_has_a_title_and_a_description():
    for entry in MODELS.values():
        assert entry.title and entry.description and entry.config.__doc__
        for field_name, field in entry.config.model_fields.items():
            if field_name != "name":
                assert field.title and field.description, (entry.name, field_name)
    for field_name, field in TrainingConfig.model_fields.items():
        assert field.title and field.description, field_name


def test_the_seed_cnn_is_the_briefs_network_and_ends_in_logits():
    model = build_model(model_config("seed_cnn"), SPECS["image"], seed=0)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (32, (3, 3), (0, 0)), (64, (3, 3), (0, 0)), (64, (3, 3), (0, 0))]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 2
    dense = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(64 * 4 * 4, 64), (64, 10)]
    assert isinstance(list(model.modules())[-1], torch.nn.Linear)  # no softmax: the loss takes logits
    assert model_size(model_config("seed_cnn"), SPECS["image"]).parameters == 122_570


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh", "gelu"])
def test_the_seed_cnn_pools_before_the_activation_only_where_that_changes_nothing(act):
    """Conv, pool, activation must give the brief's conv, activation, pool values and gradients exactly."""
    from engine.models.image import MONOTONE_ACTIVATIONS

    config = model_config("seed_cnn", activation=act)
    model = build_model(config, SPECS["image"], seed=0)
    layers = list(model.features)  # conv, ?, ?, conv, ?, ?, conv, activation
    pooled_first = isinstance(layers[1], torch.nn.MaxPool2d)
    assert pooled_first == (act in MONOTONE_ACTIVATIONS)
    if pooled_first:
        layers[1:3], layers[4:6] = layers[2:0:-1], layers[5:3:-1]
    briefs_order = torch.nn.Sequential(*layers)
    assert [type(m) for m in briefs_order][:3] == [torch.nn.Conv2d, type(layers[7]), torch.nn.MaxPool2d]
    x = torch.from_numpy(inputs(SPECS["image"], 8, np.random.default_rng(0)))
    ours = model.features(x)
    theirs = briefs_order(x)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    grads = []
    for net in (model.features, briefs_order):
        model.zero_grad()
        (net(x) ** 2).sum().backward()
        grads.append([p.grad.clone() for p in model.features.parameters()])
    for mine, brief in zip(*grads):
        torch.testing.assert_close(mine, brief, rtol=0, atol=0)


def test_the_seed_cnn_refuses_small_images_in_plain_words():
    with pytest.raises(DataError, match="at least 18×18 pixels.*residual network"):
        build_model(model_config("seed_cnn"), {**SPECS["image"], "height": 8, "width": 8})


def test_the_small_resnet_fits_tiny_and_odd_images():
    for height, width in [(8, 8), (1, 1), (28, 20)]:
        spec = {**SPECS["image"], "channels": 1, "height": height, "width": width}
        model = build_model(model_config("resnet_small"), spec)
        assert model(torch.zeros(2, 1, height, width)).shape == (2, 10)


@pytest.mark.parametrize("init", ["xavier", "kaiming"])
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.slow
def test_initialisation_redraws_weights_and_keeps_padding_zero(name, init):
    spec = spec_for(name)
    default = build_model(model_config(name), spec, seed=0)
    redrawn = build_model(model_config(name, init=init), spec, seed=0)
    changed = [not torch.equal(a, b) for a, b in zip(default.parameters(), redrawn.parameters())]
    assert any(changed)
    for module in redrawn.modules():
        if isinstance(module, torch.nn.Embedding) and module.padding_idx is not None:
            assert not module.weight[module.padding_idx].any()


def test_same_seed_builds_the_same_model():
    first, second = (build_model(model_config("transformer"), SPECS["text"], seed=3) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))


# A bidirectional LSTM reads backwards starting in the padding, so only one-way reading ignores it.
@pytest.mark.parametrize(("name", "settings"), [("bag_of_embeddings", {}), ("transformer", {}),
                                                ("lstm", {"bidirectional": False})])
def test_text_models_ignore_padding_after_the_text(name, settings):
    model = build_model(model_config(name, dropout=0.0, **settings), spec_for(name), seed=0).eval()
    short = torch.tensor([[5, 9, 3, 7]])
    padded = torch.tensor([[5, 9, 3, 7, 0, 0, 0]])
    torch.testing.assert_close(model(short), model(padded), atol=1e-5, rtol=1e-5)


def test_bigram_slots_skip_padding():
    model = build_model(model_config("bag_of_embeddings"), SPECS["text"], seed=0)
    slots = model.pair_ids(torch.tensor([[4, 5, 0, 0]]))
    assert slots[0, 0] > 0 and slots[0, 1:].tolist() == [0, 0]


def test_memory_estimate_adds_up_and_reads_plainly():
    config, spec = model_config("seed_cnn"), SPECS["image"]
    size = model_size(config, spec)
    adam = memory_estimate(size, spec, batch_size=64, optimizer="adam", n_rows=10_000)
    sgd = memory_estimate(size, spec, batch_size=64, optimizer="sgd", n_rows=10_000, momentum=0.0)
    assert adam.weights == adam.gradients == 4 * 122_570 and adam.optimizer == 2 * adam.weights
    assert sgd.optimizer == 0 and adam.data == 10_000 * 3 * 32 * 32 * 4
    assert adam.total == adam.weights + adam.gradients + adam.optimizer + adam.activations + adam.data
    assert human_bytes(adam.total).endswith("MB") and human_bytes(512) == "512 bytes"


def test_dataset_spec_uses_the_recorded_spec_or_guesses_from_the_schema():
    exact = {"kind": "image", "task": "classification", "schema": {"spec": SPECS["image"]}}
    assert dataset_spec(exact) == (SPECS["image"], True)
    table = {"kind": "tabular", "task": "classification", "target": "y",
             "schema": {"columns": {"a": "number", "b": "number", "c": "category", "y": "category"}},
             "quality_report": {"class_counts": {"x": 3, "z": 4, "w": 1}}}
    spec, exact_flag = dataset_spec(table)
    assert not exact_flag and spec["n_features"] == 2 + 11 and spec["n_outputs"] == 3
    ratings = {"kind": "ratings", "task": "rating", "schema": {}, "quality_report": {"users": 400, "items": 240}}
    assert dataset_spec(ratings)[0] == {"kind": "ratings", "task": "rating", "n_outputs": 1, "n_users": 400,
                                          "n_items": 240}
    image = {"kind": "image", "task": "classification", "schema": {"height": 8, "width": 8, "channels": 1}}
    assert dataset_spec(image)[0]["height"] == 8
    for kind in SPECS:
        spec, _ = dataset_spec({"kind": kind, "task": SPECS[kind]["task"], "schema": {}})
        name = DEFAULT_MODEL[kind]
        assert model_size(model_config(name), spec).parameters > 0


def test_forms_and_estimates_never_import_torch():
    code = ("import sys; import engine.config, engine.models.registry, engine.models.estimate; "
            "from engine.models.registry import MODELS, model_size; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_numbers_read_by_range_say_how_far_each_value_went_through_each_range():
    from engine.models.tabular import NumberRanges

    ranges = NumberRanges([[0.0, 1.0, 3.0], [5.0, 6.0]])  # two ranges, then one (padded)
    numbers = torch.tensor([[-1.0, 4.0], [0.5, 5.5], [2.0, 9.0]])
    assert ranges(numbers).tolist() == [[0.0, 0.0, 0.0, 0.0],   # below every range
                                        [0.5, 0.0, 0.5, 0.0],   # halfway through the first ranges
                                        [1.0, 0.5, 1.0, 0.0]]   # past the first, halfway through the second
    model = build_model(model_config("mlp", number_ranges=True), SPECS["tabular"], seed=0)
    plain = build_model(model_config("mlp"), SPECS["tabular"], seed=0)
    assert model.body[0].in_features == 7 + 2 * 4 and plain.body[0].in_features == 7

    # Two equal edges, as a model trained before they were told apart may hold, make a step, not 0 / 0.
    assert NumberRanges([[0.0, 1.0, 1.0, 2.0]])(torch.tensor([[1.0], [0.5]])).tolist() == [[1.0, 0.0, 0.0],
                                                                                        [0.5, 0.0, 0.0]]


def test_a_column_whose_quantiles_lie_a_millionth_apart_trains_to_finite_answers():
    # A European Social Survey's weights (stevedata's ESS10NO): two of a column's quantiles, 3e-7 apart once scaled,
    # were rounded into one edge, and a training value on it made the first loss nan. Here most values lie within a
    # millionth of each other.
    from engine.data.prepare_tables import fit_table_preprocessing, transform_features
    from engine.data.prepared import PreparedData

    weight = np.r_[np.arange(600) * 1e-9, np.linspace(1.0, 2.0, 400)]
    frame = pd.DataFrame({"weight": weight, "y": ["a", "b"] * 500})
    prep = fit_table_preprocessing(frame, "y", "classification", {"weight": "number"})
    edges = prep["numeric"][0]["edges"]
    assert len(edges) > 2 and all(low < high for low, high in zip(edges, edges[1:])), edges
    model = build_model(model_config("mlp", number_ranges=True), PreparedData({}, prep).spec, seed=0)
    assert torch.isfinite(model(torch.from_numpy(transform_features(frame, prep)))).all()


def test_a_rare_category_of_a_column_of_many_is_hidden_more_often_than_a_common_one_while_training_only():
    from engine.data.prepare_tables import fit_table_preprocessing, transform_features
    from engine.data.prepared import PreparedData
    from engine.models.tabular import CategoryHiding

    towns = ["big"] * 800 + [f"village {i}" for i in range(20) for _ in range(10)]  # 21 towns: one common, 20 rare
    frame = pd.DataFrame({"size": np.arange(1000.0), "town": towns, "colour": ["red"] * 990 + ["blue"] * 10,
                          "y": ["a", "b"] * 500})
    prep = fit_table_preprocessing(frame, "y", "classification",
                                   {"size": "number", "town": "category", "colour": "category"})
    spec = PreparedData(arrays={}, preprocessing=prep).spec
    assert spec["category_counts"] == [[800] + [10] * 20, [990, 10]]
    hiding = CategoryHiding(spec["n_features"], 1, spec["category_counts"], trust=100)
    # size, then big / the 20 villages / a town not seen in training (slot 22), then red / blue / another colour
    x = torch.from_numpy(transform_features(frame, prep))
    torch.manual_seed(0)
    hidden = hiding.train()(x)
    assert torch.equal(hidden[:, 0], x[:, 0]) and torch.equal(hidden[:, 1:].sum(1), torch.full((1000,), 2.0))
    assert hidden[:800, 22].mean() == pytest.approx(100 / 900, abs=0.03)  # 100 / (100 + 800)
    assert hidden[800:, 22].mean() == pytest.approx(100 / 110, abs=0.06)  # 100 / (100 + 10)
    assert torch.equal(hidden[:, 23:], x[:, 23:])  # a column of two categories is read as it is, even its rare one
    assert torch.equal(hiding.eval()(x), x)
    model = build_model(model_config("mlp", category_trust=100), spec, seed=0)
    assert model.hiding is not None and not any("hiding" in name for name in model.state_dict())
    # Off by setting, or for a run prepared before the counts were kept: nothing hidden.
    assert build_model(model_config("mlp"), spec).hiding is None
    assert build_model(model_config("mlp", category_trust=100), spec | {"category_counts": [None]}).hiding is None


def test_half_of_an_ensemble_reads_numbers_by_range_and_the_other_half_as_they_are():
    from engine.training.evaluate import task_loss

    model = build_model(model_config("mlp", members=4, number_ranges="half", dropout=0.0), SPECS["tabular"], seed=0)
    x = torch.from_numpy(inputs(SPECS["tabular"], 32, np.random.default_rng(0)))
    task_loss("classification", model.train()(x), torch.randint(0, 2, (32,))).backward()
    first = model.ensemble[0].weight.grad  # (networks, outputs, 7 columns + 2 × 4 ranges)
    assert first[:2, :, 7:].abs().sum() == 0 and first[2:, :, 7:].abs().sum() > 0  # two plain, two by range
    assert first[:, :, :7].abs().sum(dim=(1, 2)).gt(0).all()  # every network reads the columns as they are
    # When training ends, the two halves are weighed by the loss on the validation rows; an even share stays on a tie.
    assert model.weigh_readers(lambda: 1.0) == 0.5
    assert model.weigh_readers(lambda: abs(float(model.range_share) - 0.75)) == 0.75
    assert model.member_weights().tolist() == [0.125, 0.125, 0.375, 0.375]
    with torch.no_grad():
        outputs = model.train()(x)  # each network's own answer (no dropout: the same as in evaluation)
        assert torch.allclose(model.eval()(x), torch.log(0.25 * outputs[:2].softmax(-1).mean(0)
                                                         + 0.75 * outputs[2:].softmax(-1).mean(0)), atol=1e-6)
        model.weigh_readers(lambda: float(model.range_share))  # the plain half alone
        assert torch.allclose(model(x), outputs[:2].log_softmax(-1).logsumexp(0) - math.log(2), atol=1e-5)
    assert "range_share" in model.state_dict() and "reads" not in model.state_dict()
    assert build_model(model_config("mlp", members=4), SPECS["tabular"]).weigh_readers(lambda: 0.0) is None
    # A single network reads by range; runs saved when the setting was yes or no still load.
    assert build_model(model_config("mlp", number_ranges="half"), SPECS["tabular"]).body[0].in_features == 7 + 8
    assert [MLPConfig(number_ranges=said).number_ranges for said in (True, False)] == ["all", "none"]


def test_matrix_factorisation_pulls_rarely_seen_users_and_items_towards_the_average():
    spec = {**SPECS["ratings"], "user_counts": [1] * 6 + [100] * 6, "item_counts": [10] * 9}
    model = build_model(model_config("matrix_factorization", factors=2, regularisation=10.0), spec, seed=0)
    with torch.no_grad():
        model.user_bias.fill_(1.0)
        model.item_bias.zero_()
        model.users.weight.zero_()
        model.items.weight.zero_()
    rare, frequent = torch.tensor([[1, 1]]), torch.tensor([[7, 1]])
    # The pull per rating is regularisation × (bias² + vector²) / ratings of that user: 10 × 1 / 1 against / 100.
    assert model.penalty(rare).item() == pytest.approx(10.0)
    assert model.penalty(frequent).item() == pytest.approx(0.1)
    assert build_model(model_config("matrix_factorization", regularisation=0.0), spec).penalty(rare).item() == 0.0
    # Counts are only used while training: the saved weights are the same as without them.
    assert set(model.state_dict()) == set(build_model(model_config("matrix_factorization"), SPECS["ratings"]).state_dict())


def test_matrix_factorisation_learns_from_the_items_each_user_rated_and_keeps_a_plain_factorisation():
    spec = {**SPECS["ratings"], "user_counts": [3, 1, 2] + [1] * 9, "item_counts": [2] * 9}
    pairs = np.array([[1, 1], [1, 4], [1, 6], [2, 2], [3, 3], [3, 8], [5, 1]])
    unknown_and_rated = torch.tensor([[0, 2], [1, 2], [1, 9], [3, 7], [4, 5], [5, 5]])
    for members in (1, 3):
        model = build_model(model_config("matrix_factorization", factors=4, members=members), spec, seed=0)
        saved = set(model.state_dict())
        model.start_training(pairs)
        with torch.no_grad():
            model.rated_vectors.weight.normal_()  # as if trained: far from its small start
            expected = model.eval()(unknown_and_rated)
            by_hand = model.users.weight[1] + (model.rated_vectors.weight[[1, 4, 6]].sum(0) / math.sqrt(3))
            assert torch.allclose(model.user_vectors(torch.tensor([1]))[0], by_hand)
            # The user nobody knows (0) and one with no training ratings (4) have no rated items to add.
            assert torch.equal(model.user_vectors(torch.tensor([0, 4])), model.users.weight[[0, 4]])
        assert "rated_vectors.weight" in model.state_dict()  # a checkpoint while training holds them
        model.end_training()
        assert set(model.state_dict()) == saved  # what is kept loads into a plain factorisation
        plain = build_model(model_config("matrix_factorization", factors=4, members=members), spec, seed=1)
        plain.load_state_dict(model.state_dict())
        assert torch.allclose(plain.eval()(unknown_and_rated), expected, atol=1e-6)


def test_matrix_factorisations_side_by_side_each_answer_in_training_and_average_after():
    spec = SPECS["ratings"]
    model = build_model(model_config("matrix_factorization", factors=4, members=3, rated_items=False), spec, seed=0)
    pairs = torch.tensor([[1, 2], [3, 4]])
    with torch.no_grad():
        model.user_bias.normal_()
    each = model.train()(pairs)
    assert each.shape == (3, 2, 1) and not torch.allclose(each[0], each[1])
    assert torch.allclose(model.eval()(pairs), each.mean(0))
    # Each member is pulled as a single factorisation would be, at strengths from half to twice the setting.
    single = build_model(model_config("matrix_factorization", factors=4, rated_items=False), spec, seed=0)
    with torch.no_grad():
        for table in ("users", "items"):
            getattr(single, table).weight.copy_(getattr(model, table).weight[:, :4])
            getattr(model, table).weight.copy_(getattr(single, table).weight.repeat(1, 3))
        model.user_bias.copy_(single.user_bias.unsqueeze(-1).repeat(1, 3))
        model.item_bias.copy_(single.item_bias.unsqueeze(-1).repeat(1, 3))
    assert model.member_pull.tolist() == pytest.approx([0.5, 1.0, 2.0])
    assert model.penalty(pairs).item() == pytest.approx(single.penalty(pairs).item() * 3.5 / 3)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_an_ensemble_trains_each_network_and_answers_with_their_average(task):
    from engine.training.evaluate import task_loss

    spec = {**SPECS["tabular"], "task": task, "n_outputs": 3 if task == "classification" else 1}
    model = build_model(model_config("mlp", members=4, dropout=0.0), spec, seed=0)
    x = torch.from_numpy(inputs(spec, 6, np.random.default_rng(0)))
    each = model.train()(x)
    assert each.shape == (4, 6, spec["n_outputs"])  # every network's own answer while training
    y = torch.zeros(6, dtype=torch.long) if task == "classification" else torch.zeros(6)
    alone = [task_loss(task, each[i], y) for i in range(4)]
    assert task_loss(task, each, y).item() == pytest.approx(sum(a.item() for a in alone) / 4, rel=1e-5)
    with torch.no_grad():
        each, together = model.train()(x), model.eval()(x)
    if task == "classification":  # the mean of the probabilities, as logits
        assert torch.allclose(together.softmax(-1), each.softmax(-1).mean(0), atol=1e-6)
    else:
        assert torch.allclose(together, each.mean(0), atol=1e-6)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_an_ensemble_saved_one_network_at_a_time_loads_and_answers_the_same(task):
    """Runs trained before the ensemble's networks were computed together saved each network on its own
    (members.<i>.0.<layer>, members.<i>.1): they load into today's model and give the same answers."""
    from engine.models.tabular import network

    n_outputs = 3 if task == "classification" else 1
    config = model_config("mlp", members=3, batch_norm=True, dropout=0.2, hidden_sizes=[16, 8])
    torch.manual_seed(0)
    networks = torch.nn.ModuleList(torch.nn.Sequential(*network(config, 5, n_outputs)) for _ in range(3))
    for each in networks:  # batch statistics to carry over
        each.train()(torch.randn(64, 5))
    saved = {f"members.{name}": value for name, value in networks.state_dict().items()}
    model = build_model(config, {"n_features": 5, "n_outputs": n_outputs, "task": task})
    model.load_state_dict(saved)
    x = torch.randn(7, 5)
    with torch.no_grad():
        each = torch.stack([one.eval()(x) for one in networks])
        together = model.eval()(x)
    if task == "classification":
        assert torch.allclose(together.softmax(-1), each.softmax(-1).mean(0), atol=1e-6)
    else:
        assert torch.allclose(together, each.mean(0), atol=1e-6)
    assert model.upgrade_state(saved).keys() == model.state_dict().keys()


def test_each_network_of_an_ensemble_starts_from_its_own_weights():
    model = build_model(model_config("mlp", members=4, init="kaiming"), {"n_features": 50, "n_outputs": 2}, seed=0)
    first = next(model.parameters())  # (networks, outputs, inputs)
    assert first.shape[0] == 4 and not torch.equal(first[0], first[1])
    assert [round(float(matrix.detach().std()), 1) for matrix in first] == [0.2] * 4  # He's scale, sqrt(2 / 50), for each


@pytest.mark.parametrize("task, ranges", [("classification", "none"), ("regression", "none"),
                                          ("classification", "half")])
def test_an_ensemble_is_exported_as_networks_of_their_own_layers_that_answer_the_same(task, ranges):
    from engine.models.tabular import SeparateMembers

    spec = {**SPECS["tabular"], "task": task, "n_outputs": 3 if task == "classification" else 1}
    model = build_model(model_config("mlp", members=4, batch_norm=True, number_ranges=ranges), spec, seed=0)
    x = torch.from_numpy(inputs(spec, 64, np.random.default_rng(0)))
    model.train()(x)  # batch statistics of its own for each network
    if ranges == "half":
        model.range_share.fill_(0.75)  # as weighed on the validation rows
    exported = model.eval().onnx_form()
    assert isinstance(exported, SeparateMembers) and len(exported.members) == 4
    assert all(isinstance(layer, torch.nn.Linear) for layer in exported.modules() if "Linear" in type(layer).__name__)
    with torch.no_grad():
        assert torch.allclose(exported(x), model(x), atol=1e-5)
    alone = build_model(model_config("mlp"), spec, seed=0)
    assert alone.onnx_form() is alone
