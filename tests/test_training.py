"""The training loop on the CPU: every model trains, checkpoints reload, resumes match, NaN stops with advice."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.config import RunConfig, TrainingConfig
from engine.errors import TrainingError
from engine.models.registry import MODELS, build_model
from engine.training.callbacks import Callback, Checkpointer, MetricLogger, StopTraining, TrainState
from engine.training.checkpoint import load_checkpoint, save_checkpoint
from engine.training.device import autocast_dtype, pick_device
from engine.training.schedule import SCHEDULES
from engine.training.loop import (OPTIMIZERS, make_optimizer, make_scheduler, random_flip, random_shift,
                                  train)
from tests.conftest import ROOT
from tests.factories import SPECS, spec_for, synthetic_data

CPU = torch.device("cpu")


def run_config(name: str = "mlp", model: dict | None = None, **training) -> RunConfig:
    training = {"epochs": 2, "batch_size": 16, "log_every": 1, **training}
    return RunConfig.model_validate({"model": {"name": name, **(model or {})}, "training": training})


def fit(config: RunConfig, data, callbacks=(), resume=None):
    model = build_model(config.model, data.spec, seed=config.training.seed)
    state, final = train(config, data, model, CPU, list(callbacks), resume=resume)
    return model, state, final


class Recorder(Callback):
    """Keeps every logged point and a serialised copy of every checkpoint (as the disk would)."""

    def __init__(self):
        self.steps, self.epochs, self.checkpoints = [], [], []

    def on_step_end(self, state, logs):
        if logs:
            self.steps.append(logs)

    def on_epoch_end(self, state, logs):
        self.epochs.append(logs)

    def on_checkpoint(self, state, checkpoint):
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        self.checkpoints.append(buffer.getvalue())

    def checkpoint(self, index: int) -> dict:
        return torch.load(io.BytesIO(self.checkpoints[index]), weights_only=True)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.slow
def test_two_steps_on_cpu_give_a_finite_loss_and_a_checkpoint_that_reloads(name, tmp_path):
    spec = spec_for(name)
    data = synthetic_data(spec, n=32)
    path = tmp_path / "checkpoint.pt"
    recorder = Recorder()
    config = run_config(name, epochs=1, batch_size=16)
    model, state, final = fit(config, data, [recorder, Checkpointer(lambda c: save_checkpoint(path, c))])
    assert state.step == 2
    assert all(math.isfinite(logs["train_loss"]) for logs in recorder.steps)
    assert math.isfinite(final["test_loss"])
    checkpoint = load_checkpoint(path)  # weights_only=True
    fresh = build_model(config.model, spec)
    # As a resumed run: a model that reads its training inputs as a whole does so before its weights load, and folds
    # what it learnt from them in when training ends (matrix factorisation's rated items).
    if hasattr(fresh, "start_training"):
        fresh.start_training(data.arrays["train"][0])
    fresh.load_state_dict(checkpoint["model"])
    if hasattr(fresh, "end_training"):
        fresh.end_training()
    x = torch.from_numpy(data.arrays["test"][0][:4])
    torch.testing.assert_close(fresh.eval()(x), model.eval()(x))
    assert checkpoint["state"]["step"] == 2 and "scheduler" in checkpoint and "scaler" in checkpoint


def test_logs_training_and_validation_figures():
    recorder = Recorder()
    config = run_config(log_every=2, epochs=2)
    _, state, final = fit(config, synthetic_data(SPECS["tabular"]), [recorder])
    assert {"train_loss", "train_accuracy", "learning_rate"} <= set(recorder.steps[0])
    # 3 steps an epoch: the run's first step (its curve starts at once), every second step, the last of each epoch
    assert len(recorder.steps) == 5
    epoch = recorder.epochs[-1]
    assert {"val_loss", "val_accuracy", "epoch_seconds", "samples_per_second", "memory_mb"} <= set(epoch)
    assert epoch["memory_mb"] > 10  # the process's resident memory on a CPU
    for key in ("test_accuracy", "test_f1_macro", "test_precision_macro", "test_recall_macro", "epochs_completed",
                "samples_per_second"):
        assert key in final


def test_the_first_point_is_written_at_once_and_the_rest_in_batches():
    written = []
    logger = MetricLogger(written.append, flush_seconds=60)
    state = TrainState(epochs=1, steps_per_epoch=10)
    for step in (1, 10, 20):
        state.step = step
        logger.on_step_end(state, {"train_loss": 1.0 / step})
    assert [[point[1] for point in batch] for batch in written] == [[1]]  # the run's page can draw it now
    logger.on_epoch_end(state, {"val_loss": 0.5})
    assert [[point[1] for point in batch] for batch in written] == [[1], [10, 20, 20]]


def test_ratings_report_errors_in_the_original_units():
    _, _, final = fit(run_config("matrix_factorization"), synthetic_data(SPECS["ratings"]))
    assert final["test_rmse"] == pytest.approx(math.sqrt(final["test_loss"]) * 1.2, rel=1e-4)


def test_same_seed_same_metrics_other_seed_other_metrics():
    data = synthetic_data(SPECS["tabular"])
    config = run_config(model={"dropout": 0.3}, seed=5)
    _, _, first = fit(config, data)
    _, _, second = fit(config, data)
    _, _, other = fit(run_config(model={"dropout": 0.3}, seed=6), data)
    first.pop("samples_per_second"), second.pop("samples_per_second"), other.pop("samples_per_second")
    assert first == second
    assert first != other


@pytest.mark.parametrize(("name", "model", "training"), [
    ("mlp", {"dropout": 0.3, "batch_norm": True}, {"optimizer": "sgd", "nesterov": True, "lr_schedule": "cosine",
                                                  "warmup_epochs": 0.5, "early_stopping_patience": 5,
                                                  "average_epochs": 1.0}),
    ("resnet_small", {"base_width": 4, "dropout": 0.2}, {"augment_flip": True, "augment_crop": 2,
                                                         "lr_schedule": "one_cycle", "label_smoothing": 0.1}),
    # the items each user rated learn beside the factorisations, and are folded into them at the end
    ("matrix_factorization", {"members": 2, "rated_items": True}, {"keep_best": True}),
])
def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(name, model, training):
    spec = {**spec_for(name), "height": 8, "width": 8} if name == "resnet_small" else spec_for(name)
    data = synthetic_data(spec, n=40)
    config = run_config(name, model, epochs=3, **training)
    whole = Recorder()
    _, _, uninterrupted = fit(config, data, [whole])

    class StopAfterFirstCheckpoint(Callback):
        def on_checkpoint(self, state, checkpoint):
            raise StopTraining("interrupted")

    part = Recorder()
    with pytest.raises(StopTraining):
        fit(config, data, [part, StopAfterFirstCheckpoint()])
    rest = Recorder()
    _, state, resumed = fit(config, data, [rest], resume=part.checkpoint(0))
    uninterrupted.pop("samples_per_second"), resumed.pop("samples_per_second")
    assert resumed == uninterrupted
    assert state.epoch == 3 and rest.epochs[-1]["val_loss"] == whole.epochs[-1]["val_loss"]
    assert [s["train_loss"] for s in part.steps + rest.steps] == [s["train_loss"] for s in whole.steps]


def test_a_nan_loss_stops_with_advice():
    data = synthetic_data(SPECS["tabular"])
    data.arrays["train"][0][3, 2] = np.nan
    with pytest.raises(TrainingError, match="Lower the learning rate"):
        fit(run_config(log_every=100), data)


def test_early_stopping_ends_a_run_that_stops_improving():
    # A learning rate too small to change anything: the validation loss never improves after the first epoch.
    config = run_config(epochs=10, learning_rate=1e-12, early_stopping_patience=2)
    _, state, final = fit(config, synthetic_data(SPECS["tabular"]))
    assert state.epoch == 3 and state.extra["stopped_early"] and final["epochs_completed"] == 3


@pytest.mark.parametrize("keep_best", [True, False])
def test_the_run_ends_with_the_best_epochs_weights_unless_asked_for_the_last(keep_best):
    # Random labels: the model memorises the training split, so the validation loss is lowest early on.
    recorder = Recorder()
    config = run_config(epochs=8, learning_rate=3e-2, keep_best=keep_best)
    model, state, final = fit(config, synthetic_data(SPECS["tabular"]), [recorder])
    losses = [logs["val_loss"] for logs in recorder.epochs]
    best = losses.index(min(losses))
    assert best < len(losses) - 1  # the setup works: the last epoch is not the best
    kept = best if keep_best else len(losses) - 1
    expected = recorder.checkpoint(kept)["model"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    assert state.extra.get("kept_epoch", {}).get("epoch") == (best + 1 if keep_best else None)
    assert final.get("kept_epoch") == (best + 1 if keep_best else None)  # shown on the run's page


def test_a_run_that_averages_its_weights_ends_with_the_average():
    data = synthetic_data(SPECS["tabular"])
    # An average over far more epochs than the run has stays near the starting weights.
    config = run_config(epochs=3, learning_rate=3e-2, average_epochs=100.0, model={"batch_norm": True})
    start = build_model(config.model, data.spec, seed=config.training.seed).state_dict()
    recorder = Recorder()
    model, _, _ = fit(config, data, [recorder])
    last = recorder.checkpoint(2)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, last["averaged"][f"module.{key}"])  # batch normalisation's figures too

    def moved(weights: dict) -> float:
        return sum(float((weights[key] - start[key]).abs().sum()) for key in start if start[key].is_floating_point())

    # The average starts from the weights after the first step and then lags far behind the steps.
    assert 0 < moved(model.state_dict()) < 0.5 * moved(last["model"])


def test_a_resumed_run_remembers_how_long_it_has_waited_to_improve():
    config = run_config(epochs=10, learning_rate=1e-12, early_stopping_patience=2)
    data = synthetic_data(SPECS["tabular"])
    whole = Recorder()
    _, state, _ = fit(config, data, [whole])
    _, resumed, _ = fit(config, data, resume=whole.checkpoint(1))
    assert state.epoch == resumed.epoch == 3


@pytest.mark.parametrize("name", ["mlp", "matrix_factorization"])
def test_early_stopping_can_watch_the_task_score(name):
    config = run_config(name, epochs=10, learning_rate=1e-12, early_stopping_patience=1,
                        early_stopping_metric="val_score")
    _, state, _ = fit(config, synthetic_data(spec_for(name)))
    assert state.epoch == 2 and state.extra["stopped_early"]


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_every_optimizer_and_schedule_builds_and_steps(optimizer, schedule):
    t = TrainingConfig(optimizer=optimizer, lr_schedule=schedule, epochs=4, weight_decay=0.01)
    model = torch.nn.Linear(3, 1)
    opt = make_optimizer(model, t)
    scheduler = make_scheduler(opt, t, steps_per_epoch=5)
    before = model.weight.detach().clone()
    for _ in range(20):
        opt.zero_grad()
        model(torch.ones(2, 3)).sum().backward()
        opt.step()
        scheduler.step()
    assert not torch.equal(before, model.weight)
    assert math.isfinite(model.weight.sum().item())


def test_optimisers_take_one_fused_step_where_the_device_has_the_kernel():
    model = torch.nn.Linear(3, 1)
    for name in ("sgd", "adam", "adamw", "adagrad"):
        assert make_optimizer(model, TrainingConfig(optimizer=name)).defaults["fused"], name
    rmsprop = make_optimizer(model, TrainingConfig(optimizer="rmsprop")).defaults
    assert rmsprop["foreach"] and not rmsprop.get("fused")


def test_a_run_resumed_on_another_machine_steps_with_this_machines_kernels():
    config = run_config(epochs=2)
    data = synthetic_data(SPECS["tabular"])
    whole = Recorder()
    fit(config, data, [whole])
    saved = whole.checkpoint(0)
    for group in saved["optimizer"]["param_groups"]:  # as a machine without the fused kernel saved it
        group.update(fused=None, foreach=None)
    rest = Recorder()
    fit(config, data, [rest], resume=saved)
    assert all(group["fused"] for group in rest.checkpoint(0)["optimizer"]["param_groups"])


def learning_rates(steps_per_epoch: int = 10, **settings) -> list[float]:
    t = TrainingConfig(epochs=10, learning_rate=1.0, **settings)
    optimizer = make_optimizer(torch.nn.Linear(1, 1), t)
    scheduler = make_scheduler(optimizer, t, steps_per_epoch)
    rates = []
    for _ in range(t.epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_schedules_have_their_shapes():
    assert set(learning_rates()) == {1.0}
    step = learning_rates(lr_schedule="step", step_every_epochs=3, step_factor=0.5)
    assert step[29] == 1.0 and step[30] == 0.5 and step[60] == 0.25
    cosine = learning_rates(lr_schedule="cosine")
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5) and cosine[-1] < 0.001
    cycle = learning_rates(lr_schedule="one_cycle")
    assert cycle[0] == pytest.approx(1 / 25) and max(cycle) == pytest.approx(1.0) and cycle.index(max(cycle)) == 30
    assert cycle[-1] < 0.001
    warm = learning_rates(lr_schedule="cosine", warmup_epochs=2)
    assert warm[0] == pytest.approx(1 / 20) and warm[19] == pytest.approx(cosine[19]) and warm[10] < cosine[10]


def test_label_smoothing_changes_the_training_loss():
    data = synthetic_data(SPECS["tabular"])
    plain, smoothed = Recorder(), Recorder()
    fit(run_config(epochs=1), data, [plain])
    fit(run_config(epochs=1, label_smoothing=0.3), data, [smoothed])
    assert plain.steps[0]["train_loss"] != smoothed.steps[0]["train_loss"]


def test_augmentation_moves_and_mirrors_whole_batches():
    torch.manual_seed(0)
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert random_shift(images, 0).equal(images)
    shifted = random_shift(images, 2)
    assert shifted.shape == images.shape
    for original, moved in zip(images, shifted):  # each image is the original moved, with zeros in the gap
        kept = moved[moved != 0]
        assert set(kept.tolist()) <= set(original.flatten().tolist())
    flipped = random_flip(images.repeat(20, 1, 1, 1))
    mirrored = [torch.equal(f, o.flip(2)) for f, o in zip(flipped, images.repeat(20, 1, 1, 1))]
    assert 0 < sum(mirrored) < len(mirrored)


def test_mixed_precision_choices():
    assert autocast_dtype("auto", CPU) is None and autocast_dtype("off", CPU) is None
    assert autocast_dtype("bf16", CPU) == torch.bfloat16 and autocast_dtype("fp16", CPU) == torch.float16
    _, _, final = fit(run_config("seed_cnn", mixed_precision="bf16", epochs=1), synthetic_data(SPECS["image"], n=16))
    assert math.isfinite(final["test_loss"])


def test_devices_are_checked_in_plain_words():
    assert pick_device("cpu") == CPU
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="has none"):
            pick_device("cuda:1")


def test_metric_logger_writes_to_a_real_database(home):
    from db import repo

    dataset = repo.create_dataset(name="d", kind="tabular", task="classification", target="y", n_rows=48,
                                  n_columns=8, schema={}, quality_report={}, files_path="/x", sha256="0" * 64)
    run = repo.create_run(dataset["id"], "mlp", run_config().model_dump())
    fit(run_config(), synthetic_data(SPECS["tabular"]), [MetricLogger(lambda p: repo.log_metrics(run["id"], p))])
    summary = repo.metric_summaries(run["id"])
    assert {"train_loss", "val_loss", "learning_rate", "memory_mb", "test_accuracy"} <= set(summary)


TRAIN_STEPS = """
import resource, sys, torch
from torch.nn import functional as F
from engine.config import RunConfig
from engine.models.registry import build_model
from engine.training.device import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
spec = {"kind": "image", "task": "classification", "channels": 3, "height": 32, "width": 32, "n_outputs": 10}
model = build_model(RunConfig.model_validate({"model": {"name": "seed_cnn"}}).model, spec, seed=0)
optimizer = torch.optim.Adam(model.parameters())
x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
def step():
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the memory setting is glibc's, on Linux")
@pytest.mark.slow
def test_a_training_process_keeps_freed_memory_for_the_next_step():
    def page_faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", TRAIN_STEPS, mode], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    # glibc sometimes keeps memory on its own (its mmap threshold rises once a large block is freed): one process
    # of each can fault as little as the other, so three of each are added up.
    default, kept = ([page_faults(mode) for _ in range(3)] for mode in ("default", "keep"))
    assert sum(kept) * 5 < sum(default), (default, kept)
