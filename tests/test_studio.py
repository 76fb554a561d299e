"""New run as a guided studio: presets fill the form, estimates of memory and time, the learning-rate chart,
and the measurement of this machine behind the time estimate."""

import io
import json
import math

import pytest

from dashboard.components.figures import learning_rate_figure
from engine.calibrate import calibration_path, load_calibration
from engine.config import TrainingConfig
from engine.data.samples import add_sample
from engine.models.estimate import time_estimate, training_steps
from engine.models.registry import MODELS
from engine.models.zoo.mlp import MLPConfig, mlp_size
from engine.words import human_seconds
from engine.presets import PRESETS, TRAINING, preset_for, reasons
from engine.training.schedule import schedule_curve, schedule_share
from tests.conftest import cli
from tests.conftest import open_page
from tests.conftest import page_texts as texts

FAKE_CALIBRATION = {"devices": {"cpu": {"seconds_per_step": 0.002, "seconds_per_unit": 1e-8, "startup_seconds": 4}},
                    "auto": "cpu", "measured_at": "2026-01-01T00:00:00+00:00"}


@pytest.fixture
def iris(home):
    return add_sample("iris")


def numbers(at) -> dict:
    return {n.label: n.value for n in at.number_input}


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def schedule_chart(at) -> dict:
    charts = [e for e in at.get("plotly_chart")]
    assert charts, "no chart drawn"
    return json.loads(charts[0].proto.spec)


def test_presets_fill_the_form_and_keep_what_the_user_changes_afterwards(iris):
    def epochs(preset):
        return preset_for(iris, "mlp", preset).training["epochs"]

    at = open_page("new_run", dataset=iris["id"])
    assert numbers(at)["Epochs"] == epochs("Balanced")
    at.button_group(key="preset").set_value("Quick").run()
    assert not at.exception
    assert numbers(at)["Epochs"] == epochs("Quick")
    assert numbers(at)["Learning rate"] == TRAINING["tabular"]["Quick"]["learning_rate"]
    assert at.text_input(key="preset-quick.model.mlp.hidden_sizes").value == "64"
    at.number_input(key="preset-quick.training.epochs").set_value(7).run()
    assert numbers(at)["Epochs"] == 7
    at.button_group(key="preset").set_value("Best").run()
    assert numbers(at)["Epochs"] == epochs("Best")
    assert at.number_input(key="preset-best.model.mlp.members").value == MODELS["mlp"].presets["Best"]["members"]
    # 22 validation flowers are too few to pick the best epoch by: even Best trains all its epochs.
    assert not at.checkbox(key="preset-best.training.regularisation.keep_best").value
    at.button_group(key="preset").set_value("Quick").run()
    assert numbers(at)["Epochs"] == epochs("Quick")  # a preset chosen again starts afresh
    assert not at.warning and not at.exception


def test_the_new_run_page_says_why_a_column_of_many_values_is_read_as_it_is(home, tmp_path):
    from engine.data.ingest import add_dataset

    rows = 600
    table = "\n".join(["size,post*code,price"] + [f"{i},P{i % 40},{i * 3 + i % 40}" for i in range(rows)])
    (tmp_path / "homes.csv").write_text(table)
    dataset = add_dataset(tmp_path / "homes.csv", target="price", task="regression")
    at = open_page("new_run", dataset=dataset["id"])
    assert not at.exception
    said = [line for line in texts(at).splitlines() if "different values" in line]
    assert len(said) == 1 and "'post*code' has 40 different values: while training" in said[0], said  # as written


def test_the_quick_preset_trains_with_its_settings(iris, monkeypatch):
    from dashboard.components import state
    from db import repo

    monkeypatch.setattr(state, "ensure_local_worker", lambda: None)  # the queued run is all this test needs
    at = open_page("new_run", dataset=iris["id"])
    at.button_group(key="preset").set_value("Quick").run()
    at.button(key="train").click().run()
    config = repo.list_runs()[0]["config"]
    assert config["training"]["epochs"] == preset_for(iris, "mlp", "Quick").training["epochs"]
    assert config["model"]["hidden_sizes"] == [64]
    assert config["preset"] == "Quick"


@pytest.mark.slow
def test_the_default_form_and_the_command_line_start_from_the_same_settings(iris, monkeypatch):
    from dashboard.components import state
    from db import repo

    monkeypatch.setattr(state, "ensure_local_worker", lambda: None)
    at = open_page("new_run", dataset=iris["id"])
    assert "epochs instead of" in texts(at)  # the preset says how it fits the data
    at.button(key="train").click().run()
    from_form = repo.list_runs()[0]["config"]
    from_cli = json.loads(cli("train", "--dataset", str(iris["id"]), "--json").stdout)["config"]
    assert from_form == from_cli and from_cli["preset"] == "Balanced"
    assert not from_cli["training"]["early_stopping_patience"]  # 22 validation flowers: all epochs are trained


def test_estimates_and_reasons_appear_before_training(iris):
    at = open_page("new_run", dataset=iris["id"])
    shown = metrics(at)
    assert shown["Parameters"].startswith("about ") and shown["Memory for training"].startswith("about ")
    assert shown["Training time"] == "not measured yet"
    assert at.button(key="calibrate").label == "Measure this computer"
    words = texts(at)
    assert "Why these settings" in words and "because" in words and "training examples" in words


def test_a_calibration_file_gives_a_training_time(iris):
    calibration_path().write_text(json.dumps(FAKE_CALIBRATION))
    at = open_page("new_run", dataset=iris["id"])
    quick_or_not = metrics(at)["Training time"]
    assert quick_or_not.startswith("about ") or quick_or_not == "a few seconds"
    assert "measured 2026-01-01" in texts(at)
    assert at.button(key="calibrate").label == "Measure again"


def test_the_schedule_chart_follows_the_settings(iris):
    at = open_page("new_run", dataset=iris["id"])
    cosine = schedule_chart(at)["data"][0]["y"]
    assert cosine[0] > cosine[-1]  # Balanced uses a cosine decay
    at.selectbox(key="preset-balanced.training.schedule.lr_schedule").set_value("constant").run()
    constant = schedule_chart(at)["data"][0]["y"]
    assert len(set(constant)) == 1
    at.selectbox(key="preset-balanced.training.schedule.lr_schedule").set_value("step").run()
    epochs = preset_for(iris, "mlp", "Balanced").training["epochs"]
    assert len(set(schedule_chart(at)["data"][0]["y"])) == -(-epochs // 10)  # a drop every 10 epochs


class FinishedProcess:
    """Stands in for the `calibrate` child process: what it printed and its exit code."""

    def __init__(self, stdout: str, stderr: str, code: int):
        self.stdout, self.stderr, self.code = io.StringIO(stdout), io.StringIO(stderr), code

    def wait(self) -> int:
        return self.code


@pytest.mark.slow
def test_the_measure_button_shows_progress_and_stores_the_measurement(iris, monkeypatch):
    import subprocess

    def measured(command, **kwargs):
        """Stands in for `python -m engine calibrate --progress`: prints progress, then stores a measurement."""
        assert command[1:4] == ["-m", "engine", "calibrate"]
        calibration_path().write_text(json.dumps(FAKE_CALIBRATION))
        return FinishedProcess("".join(f"progress {i} 4\n" for i in range(1, 5)), "", 0)

    monkeypatch.setattr(subprocess, "Popen", measured)
    at = open_page("new_run", dataset=iris["id"])
    at.button(key="calibrate").click().run()
    assert not at.exception and not at.error
    assert metrics(at)["Training time"] != "not measured yet"


@pytest.mark.slow
def test_a_failed_measurement_says_so_in_plain_words(iris, monkeypatch):
    import subprocess

    monkeypatch.setattr(subprocess, "Popen", lambda command, **kwargs: FinishedProcess(
        "", "Traceback (most recent call last):\nError: No GPU here.\n", 2))
    at = open_page("new_run", dataset=iris["id"])
    at.button(key="calibrate").click().run()
    from dashboard.components.text import markdown_safe

    assert [e.value for e in at.error] == [markdown_safe("No GPU here.")]  # shown as written, never as Markdown
    assert "Traceback" not in texts(at)


# ---------------------------------------------------------------- pure parts


def test_load_calibration_reads_the_chosen_device_and_survives_a_broken_file(home):
    assert load_calibration() is None
    calibration_path().write_text("{not json")
    assert load_calibration() is None
    calibration_path().write_text(json.dumps(FAKE_CALIBRATION))
    assert load_calibration("auto")["device"] == "cpu"
    assert load_calibration("cpu")["seconds_per_step"] == 0.002
    assert load_calibration("cuda:1") is None


def test_time_estimate_grows_with_epochs_data_and_model_size():
    spec = {"kind": "tabular", "n_features": 10, "n_outputs": 3}
    calibration = FAKE_CALIBRATION["devices"]["cpu"]
    small, large = mlp_size(MLPConfig(hidden_sizes=[16]), spec), mlp_size(MLPConfig(hidden_sizes=[512, 512]), spec)
    base = time_estimate(small, 1000, 32, 10, calibration)
    assert time_estimate(small, 1000, 32, 20, calibration) > base
    assert time_estimate(small, 5000, 32, 10, calibration) > base
    assert time_estimate(large, 1000, 32, 10, calibration) > base
    assert training_steps(1000, 32, 10) == 320
    assert human_seconds(5) == "a few seconds" and human_seconds(42) == "about 40 seconds"
    assert human_seconds(150) == "about 2 minutes" and human_seconds(7200) == "about 2.0 hours"


KIND_SHAPES = {"tabular": {}, "image": {"schema": {"height": 28, "width": 28, "channels": 1}},
               "text": {}, "ratings": {}}


@pytest.mark.parametrize("kind", ["tabular", "image", "text", "ratings"])
def test_every_preset_is_a_valid_config_for_every_model_of_its_kind(kind):
    from engine.config import validate_run_config
    from engine.models.registry import models_for_kind

    for rows in (200, 50_000):
        dataset = {"kind": kind, "n_rows": rows, **KIND_SHAPES[kind]}
        for preset in PRESETS:
            for entry in models_for_kind(kind):
                chosen = preset_for(dataset, entry.name, preset)
                validate_run_config({"model": {"name": entry.name, **chosen.model}, "training": chosen.training,
                                     "preset": chosen.name})
        # Quick < Balanced < Best in the work they ask: epochs, times the networks of a table's ensemble.
        chosen = [preset_for(dataset, MODELS_BY_KIND[kind], preset) for preset in PRESETS]
        work = [c.training["epochs"] * c.model.get("members", 1) for c in chosen]
        assert work == sorted(work) and len(set(work)) == 3, work


MODELS_BY_KIND = {"tabular": "mlp", "image": "resnet_small", "text": "bag_of_embeddings",
                  "ratings": "matrix_factorization"}


def test_presets_fit_the_size_and_shape_of_the_data():
    photos = {"kind": "image", "n_rows": 200, "schema": {"height": 32, "width": 32, "channels": 1}}
    small = preset_for(photos, "resnet_small", "Balanced")
    large = preset_for({**photos, "n_rows": 100_000}, "resnet_small", "Balanced")
    # 140 training pictures in batches of 64: many more epochs than for 70,000 pictures, each explained.
    assert small.training["epochs"] > large.training["epochs"] == TRAINING["image"]["Balanced"]["epochs"]
    assert any("140 training pictures" in line for line in small.fitted)
    assert small.training["augment_crop"] == 3 and not small.training.get("augment_flip")
    assert any("Flips stay off" in line for line in small.fitted)
    for preset in ("Balanced", "Best"):  # both stop early and keep their best epoch, for every kind
        for kind, model in MODELS_BY_KIND.items():
            chosen = preset_for({"kind": kind, "n_rows": 5000, **KIND_SHAPES[kind]}, model, preset)
            assert chosen.training["early_stopping_patience"] > 0 and chosen.training["keep_best"], (kind, preset)
    assert not preset_for({**photos, "n_rows": 5000}, "resnet_small", "Quick").training.get("early_stopping_patience")
    # …unless the validation rows are too few to tell the best epoch: then the run trains all its epochs.
    assert not small.training.get("early_stopping_patience") and not small.training.get("keep_best")
    assert any("Only 30 validation pictures" in line for line in small.fitted)
    # A large table's ensemble has a quarter of the networks, and says so.
    assert preset_for({"kind": "tabular", "n_rows": 5_000}, "mlp", "Balanced").model["members"] == 16
    large_table = preset_for({"kind": "tabular", "n_rows": 50_000}, "mlp", "Balanced")
    assert large_table.model["members"] == 4 and any("ensemble of 4 networks instead of 16" in s
                                                     for s in large_table.fitted)
    # A small table's numbers are read as they are: too few rows to learn what each range means.
    tiny_table = preset_for({"kind": "tabular", "n_rows": 440}, "mlp", "Balanced")
    assert tiny_table.model["number_ranges"] == "none" and any("308 training rows: numbers are read as they are" in s
                                                         for s in tiny_table.fitted)
    # …and its networks leave out more of their neurons while training, so as not to learn so few rows by heart.
    assert tiny_table.model["dropout"] == 0.3 > preset_for({"kind": "tabular", "n_rows": 5_000}, "mlp",
                                                           "Balanced").model["dropout"]
    assert any("leave out 30% of their neurons at random while training" in s for s in tiny_table.fitted)
    # A number to predict from a larger table is learnt with every neuron: dropout would blur the exact figures.
    prices = {"kind": "tabular", "task": "regression", "n_rows": 5_000}
    for preset in ("Balanced", "Best"):
        assert preset_for(prices, "mlp", preset).model["dropout"] == 0.0
        assert preset_for({**prices, "task": "classification"}, "mlp", preset).model["dropout"] == 0.2
        assert preset_for({**prices, "n_rows": 440}, "mlp", preset).model["dropout"] == 0.3
    assert any("3,500 training rows and a number to predict: the networks keep all their neurons" in s
               for s in preset_for(prices, "mlp", "Balanced").fitted)
    assert "dropout" not in preset_for(prices, "mlp", "Quick").model
    quick = preset_for({"kind": "tabular", "n_rows": 440}, "mlp", "Quick")
    assert "dropout" not in quick.model and not any("neurons" in s for s in quick.fitted)
    assert preset_for({"kind": "tabular", "n_rows": 1_000}, "mlp", "Best").model["number_ranges"] == "half"  # 700 rows
    # Best on a small table trains Balanced's epochs, not hundreds more for the sake of steps nor its own longer
    # run: too few validation rows to keep the best epoch of a long run, which would learn the rows by heart.
    best_small = preset_for({"kind": "tabular", "n_rows": 440}, "mlp", "Best")
    assert best_small.training["epochs"] == tiny_table.training["epochs"] == TRAINING["tabular"]["Balanced"]["epochs"]
    assert best_small.training["epochs"] < TRAINING["tabular"]["Best"]["epochs"]
    assert any(line.startswith("Only 66 validation rows") and "60 epochs, as in Balanced" in line
               for line in best_small.fitted)
    assert best_small.model["members"] > tiny_table.model["members"]
    # A table with enough validation rows to keep its best epoch trains Best's longer run.
    assert preset_for({"kind": "tabular", "n_rows": 5_000}, "mlp", "Best").training["epochs"] == \
        TRAINING["tabular"]["Best"]["epochs"]
    # Too few rows for Balanced's epochs to reach its steps: both train the epochs the steps ask for.
    tiny_best = preset_for({"kind": "tabular", "n_rows": 100}, "mlp", "Best")
    assert tiny_best.training["epochs"] == preset_for({"kind": "tabular", "n_rows": 100}, "mlp", "Balanced"
                                                      ).training["epochs"] > TRAINING["tabular"]["Balanced"]["epochs"]
    # A table with columns of many categories says that their rare ones are hidden at random while training.
    towns = {"kind": "tabular", "n_rows": 5_000, "quality_report": {"category_values": {"town": 37, "kind": 3}}}
    assert any(line.startswith("'town' has 37 different values: while training") and "in 30 training rows" in line
               for line in preset_for(towns, "mlp", "Balanced").fitted)
    two = {**towns, "quality_report": {"category_values": {"town": 37, "postcode": 1_068, "kind": 3}}}
    assert any(line.startswith("'town' and 'postcode' have 37 and 1,068 different values")
               for line in preset_for(two, "mlp", "Quick").fitted)
    plain = preset_for({**towns, "quality_report": {"category_values": {"kind": 3}}}, "mlp", "Balanced")
    assert not any("different values" in line for line in plain.fitted)


def test_a_preset_is_named_in_any_case_and_an_unknown_one_is_refused():
    from engine.errors import UserError
    from engine.presets import preset_named

    assert preset_named("best") == "Best" and preset_named(" QUICK ") == "Quick" and preset_named(None) == "Balanced"
    with pytest.raises(UserError, match="no preset 'fastest'.*quick, balanced, best"):
        preset_named("fastest")


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "one_cycle"])
def test_the_drawn_schedule_is_the_one_training_uses(schedule):
    import torch

    from engine.training.loop import make_scheduler

    settings = {**TrainingConfig().model_dump(), "epochs": 6, "learning_rate": 0.01, "lr_schedule": schedule,
                "step_every_epochs": 2, "warmup_epochs": 1.0 if schedule != "one_cycle" else 0.0}
    steps_per_epoch = 5
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=settings["learning_rate"])
    scheduler = make_scheduler(optimizer, TrainingConfig(**settings), steps_per_epoch)
    total = settings["epochs"] * steps_per_epoch
    for step in range(total):
        drawn = settings["learning_rate"] * schedule_share(step, total, steps_per_epoch, settings)
        assert math.isclose(optimizer.param_groups[0]["lr"], drawn, rel_tol=1e-9, abs_tol=1e-12), step
        optimizer.step()
        scheduler.step()
    epochs, rates = schedule_curve(settings, steps_per_epoch, points=1000)
    assert len(rates) == total and epochs[0] == 0
    figure = learning_rate_figure(epochs, rates)
    assert list(figure.data[0].y) == rates and figure.layout.xaxis.title.text == "Epoch"


def test_reasons_explain_the_model_and_each_main_setting():
    training = TRAINING["text"]["Quick"]
    lines = reasons("text", "lstm", "bag_of_embeddings", training, 1000)
    assert "your choice" in lines[0] and "suggested" in lines[0]
    assert len(lines) == 4 and all(line.endswith(".") for line in lines)


@pytest.mark.slow
def test_calibrate_command_stores_a_measurement(home):
    result = cli("calibrate", "--json", "--device", "cpu", "--progress")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("progress 1 ")
    found = json.loads("\n".join(line for line in lines if not line.startswith("progress")))
    assert found["device"] == "cpu" and found["seconds_per_step"] > 0
    assert load_calibration("cpu")["seconds_per_unit"] == found["seconds_per_unit"]


@pytest.mark.slow
def test_calibrating_a_missing_gpu_says_so_plainly(home):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli("calibrate", "--device", "cuda")
    assert result.returncode == 2 and "no GPU" in result.stderr and "Traceback" not in result.stderr
