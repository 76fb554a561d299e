"""Starting a run from an earlier run's weights (training.init_from): what is copied, what starts afresh, and the
plain refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from db import repo
from engine.config import RunConfig, validate_run_config
from engine.data.ingest import add_dataset
from engine.data.prepare import prepare_dataset
from engine.data.prepared import features_path
from engine.errors import UserError
from engine.models.registry import build_model, data_options
from engine.training.checkpoint import load_checkpoint
from engine.training.encoded import trainable
from engine.files import model_path
from engine.training.warm_start import source_run, start_from_run
from tests.conftest import cli, make_table
from tests.factories import FOOD, TRAVEL, topics_dataset
from tests.trained import table_dataset, train_run


def fresh_model(dataset: dict, model: dict, seed: int = 11):
    config = RunConfig.model_validate({"model": model}).model
    data = prepare_dataset(dataset, 0.15, 0.15, 0, **data_options(config.name))
    return build_model(config, data.spec, seed=seed), config, data


@pytest.mark.slow
def test_a_table_run_on_other_labels_keeps_the_hidden_layers_and_replaces_the_last(home, tmp_path):
    first = train_run(table_dataset(tmp_path, classes=2, name="two"))
    renamed = make_table(rows=300, classes=2).replace({"label": {"class_0": "low", "class_1": "high"}})
    renamed.to_csv(tmp_path / "renamed.csv", index=False)
    model, config, data = fresh_model(add_dataset(tmp_path / "renamed.csv", name="renamed"),
                                      {"name": "mlp", "hidden_sizes": [16]})
    before = {name: value.clone() for name, value in model.state_dict().items()}
    said = start_from_run(model, config, data.spec, data.preprocessing, first["id"])
    earlier = load_checkpoint(model_path(first["id"]))["model"]
    after = model.state_dict()
    last = [name for name in after if after[name].shape[:1] == (2,)]  # the 2-output layer
    assert last and all(torch.equal(after[name], before[name]) for name in last)
    hidden = [name for name in after if name not in last and after[name].is_floating_point()]
    assert hidden and all(torch.equal(after[name], earlier[name]) for name in hidden)
    assert "last layer starts afresh" in said and "inputs" not in said and f"run {first['id']}" in said

    # Three classes split the rows otherwise: the colours' one-hot columns come in another order, so the first
    # layer, which reads them, would start afresh too; with the last one, that is all this network has.
    model, config, data = fresh_model(table_dataset(tmp_path, classes=3, name="three"),
                                      {"name": "mlp", "hidden_sizes": [16]})
    with pytest.raises(UserError, match="None of run .* weights can carry over"):
        start_from_run(model, config, data.spec, data.preprocessing, first["id"])


@pytest.mark.slow
def test_the_same_labels_keep_every_weight_and_the_run_says_where_it_started(home, tmp_path):
    dataset = table_dataset(tmp_path, name="shop")
    first = train_run(dataset)
    second = train_run(dataset, init_from=first["id"])
    events = " ".join(event["message"] for event in repo.list_events(second["id"]))
    total = len(load_checkpoint(model_path(first["id"]))["model"])
    assert f"Started from the weights of run {first['id']} ({total} of {total} weight tensors)." in events


@pytest.mark.slow
def test_a_text_run_carries_the_pretrained_encoder_and_its_word_pieces_to_other_labels(home, tmp_path):
    topics = topics_dataset(tmp_path)
    first = train_run(topics, "minilm", epochs=2, batch_size=8)
    frame = pd.DataFrame({"text": FOOD + TRAVEL, "label": (["sweet", "savoury"] * 7) + (["near", "far"] * 7)})
    frame.to_csv(tmp_path / "other.csv", index=False)
    other = add_dataset(tmp_path / "other.csv", name="other", kind="text", target="label", text_column="text")
    model, config, data = fresh_model(other, {"name": "minilm"})
    said = start_from_run(model, config, data.spec, data.preprocessing, first["id"])
    earlier = load_checkpoint(model_path(first["id"]))["model"]
    after = model.state_dict()
    # Word pieces number the inputs alike in every text set: their learned vectors come along.
    assert torch.equal(after["head.pieces.words.weight"], earlier["head.pieces.words.weight"])
    assert after["head.linear.weight"].shape[0] == 4 and "last layer starts afresh" in said
    assert not model.encoder_changed  # that run left its encoder as the package has it: shared features fit

    # A run that changed its encoder (fine-tuned, or tuned on pairs) passes on its own way of reading texts: a run
    # started from it reads them anew and keeps no features for the data set, whose shared ones would not fit.
    tuned = train_run(topics, "minilm", model_settings={"train_part": "all"}, epochs=1, batch_size=8)
    model, config, data = fresh_model(other, {"name": "minilm"})
    start_from_run(model, config, data.spec, data.preprocessing, tuned["id"])
    assert model.encoder_changed
    part, features = trainable(model, data, torch.device("cpu"), other)
    assert part is model.head and not features_path(other, "minilm").exists()


@pytest.mark.slow
def test_bad_starting_runs_are_refused_plainly(home, tmp_path):
    dataset = table_dataset(tmp_path, name="shop")
    first = train_run(dataset)
    with pytest.raises(UserError, match="There is no run 999"):
        source_run(999, "mlp")
    with pytest.raises(UserError, match=r"trained a Multi-layer network \(MLP\), not a Small residual network"):
        source_run(first["id"], "resnet_small")
    queued = repo.create_run(dataset["id"], "mlp", validate_run_config({"model": {"name": "mlp"}}).model_dump())
    with pytest.raises(UserError, match=f"Run {queued['id']} has not finished \\(queued\\)"):
        source_run(queued["id"], "mlp")
    # Other layer sizes: nothing fits, and the run says so instead of training from scratch unannounced.
    model, config, data = fresh_model(dataset, {"name": "mlp", "hidden_sizes": [8, 8]})
    with pytest.raises(UserError, match="None of run .* weights can carry over"):
        start_from_run(model, config, data.spec, data.preprocessing, first["id"])

    # The command line: the earlier run's model by default, and the same refusals before anything is queued.
    made = cli("train", "--dataset", "shop", "--set", f"training.init_from={first['id']}", "--json")
    assert made.returncode == 0, made.stderr
    document = json.loads(made.stdout)
    assert document["model"] == "mlp" and document["config"]["training"]["init_from"] == first["id"]
    for value, words in (("999", "There is no run 999"), (str(queued["id"]), "has not finished"),
                         ("0", "There is no run 0")):
        refused = cli("train", "--dataset", "shop", "--set", f"training.init_from={value}")
        assert refused.returncode != 0 and words in refused.stderr, refused.stderr
    other = cli("train", "--dataset", "shop", "--model", "mlp", "--set", f"training.init_from={first['id']}",
                "--set", "model.hidden_sizes=[4]", "--wait")
    assert other.returncode != 0
    failed = repo.list_runs(limit=1)[0]
    assert failed["status"] == "failed" and "None of run" in failed["error"]
