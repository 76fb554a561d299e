"""Reading ahead: an idle worker's waiting process reads the newest text set through the pretrained network its first
run starts from, so that run trains at once; a reading stopped part way goes on where it stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from db import repo
from engine.config import validate_run_config
from engine.data.ingest import add_dataset
from engine.data.prepare import prepare_dataset
from engine.data.prepared import features_path, left_to_read, partial_path
from engine.jobs.read_ahead import STEP, reading_for
from engine.models.registry import build_model, data_options
from engine.presets import starting_config
from engine.training.callbacks import StopTraining
from engine.training.encoded import encode, stored_examples, trainable
from tests.conftest import start_worker, stop, wait_for_status, wait_until
from tests.factories import FOOD, TRAVEL, topics_dataset

CPU = torch.device("cpu")
ROUNDS = 8
TEXTS = ROUNDS * len(FOOD + TRAVEL)  # 112 a label: Balanced trains the last layer on the frozen network's reading


def texts_dataset(folder: Path) -> dict:
    texts = [f"{text} ({i})" for i in range(ROUNDS) for text in FOOD + TRAVEL]
    labels = [label for _ in range(ROUNDS) for label in ["food"] * len(FOOD) + ["travel"] * len(TRAVEL)]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(folder / "texts.csv", index=False)
    return add_dataset(folder / "texts.csv", name="texts", kind="text", target="label", text_column="text")


def balanced(dataset: dict):
    """Give back the Balanced run's config, model and prepared data for dataset."""
    config = validate_run_config(starting_config(dataset, "minilm"))
    split = config.split
    data = prepare_dataset(dataset, split.validation_fraction, split.test_fraction, split.seed,
                           **data_options("minilm"))
    return config, build_model(config.model, data.spec, seed=0), data


def test_a_reading_stopped_part_way_goes_on_where_it_stopped(home, tmp_path):
    dataset = texts_dataset(tmp_path)
    path = features_path(dataset, "minilm")
    reading = reading_for(dataset)
    for _ in range(3):
        assert reading.step() == STEP["text"]
    reading.keep()
    # the shortest texts come first, and a text's reading is counted by its word pieces
    first = reading.share_read
    assert 0 < first < 3 * STEP["text"] / TEXTS and reading.done.sum() == 3 * STEP["text"]
    assert not path.exists() and left_to_read(path) == pytest.approx(1 - first)
    # a run reads the rest: its progress starts where the reading stopped, and a stop keeps what it read too
    _, model, data = balanced(dataset)
    reports = []

    def stops_after_a_step(done: int, total: int, seconds_left: float | None) -> None:
        reports.append((done, total, seconds_left))
        if len(reports) == 2:
            raise StopTraining("cancelled")

    with pytest.raises(StopTraining):
        trainable(model, data, CPU, dataset, stops_after_a_step)
    (done, total, left), (after, _, _) = reports
    assert done / total == pytest.approx(first) and left is None and after > done
    assert left_to_read(path) == pytest.approx(1 - after / total)
    reports.clear()
    part, features = trainable(model, data, CPU, dataset, lambda *report: reports.append(report))
    assert reports[0] == (after, total, None) and reports[-1][:2] == (total, total)
    assert path.exists() and not partial_path(path).exists() and left_to_read(path) == 0
    # read in three goes, the same as in one
    whole = encode(model.encoder, stored_examples(data), CPU)
    assert np.abs(np.load(path).astype(np.float32) - whole).max() < 1e-2
    assert part is model.head and len(features.arrays["test"][0]) == len(data.rows["test"])
    assert reading_for(dataset) is None  # nothing left to read


def test_reading_ahead_keeps_what_it_read_as_it_goes(home, tmp_path, monkeypatch):
    from engine.jobs import read_ahead

    monkeypatch.setattr(read_ahead, "KEEP_SECONDS", 0.0)  # kept after each step, not every 10 s
    path = features_path(texts_dataset(tmp_path), "minilm")
    reader = read_ahead.ReadAhead()
    assert reader.step() and reader.step()
    assert 0 < left_to_read(path) < 1  # an estimate made now counts what was read
    reader.stop()


def test_nothing_is_read_ahead_for_a_run_that_reads_with_its_own_network(home, tmp_path):
    # eight texts a label: Balanced tunes the network on pairs of the training texts first, so its reading is the
    # run's own
    assert reading_for(topics_dataset(tmp_path)) is None


@pytest.mark.slow
def test_an_idle_worker_reads_the_newest_text_set_ahead_and_its_first_run_trains_at_once(home, tmp_path):
    from tests.test_worker import spares_of

    dataset = texts_dataset(tmp_path)
    path = features_path(dataset, "minilm")
    worker = start_worker(env={"TRAINYARD_READ_AHEAD": "0"})  # turned off: nothing is read
    try:
        wait_until(lambda: spares_of(worker), timeout=60)
        time.sleep(10)  # a spare is ready within about 4 s, and reads at once when it may
        assert not path.exists() and not partial_path(path).exists()
    finally:
        stop(worker)
    worker = start_worker()
    try:
        wait_until(path.exists, timeout=120)
        run = repo.create_run(dataset["id"], "minilm", starting_config(dataset, "minilm"))
        wait_for_status(run["id"], "completed", timeout=180)
    finally:
        stop(worker)
    environment = repo.get_run(run["id"])["environment"]
    assert "encoding_seconds" not in environment  # nothing left to read
    log = (Path(os.environ["TRAINYARD_HOME"]) / "runs" / str(run["id"]) / "output.log").read_text()
    assert "the pretrained network has read" not in log


def test_a_picture_set_for_the_pretrained_picture_network_is_read_ahead_too(home, tmp_path):
    from tests.conftest import shapes_zip

    dataset = add_dataset(shapes_zip(tmp_path / "shapes.zip", per_class=10), name="shapes")
    reading = reading_for(dataset)
    assert reading is not None and reading.path.name.startswith("features-efficientnet_lite0")
    while reading.step():
        pass
    reading.keep()
    assert reading.path.exists() and left_to_read(reading.path) == 0
    assert np.load(reading.path).shape[0] == dataset["n_rows"]
    assert reading_for(dataset) is None
