"""A model added as one module of engine/models/zoo, as the README's "Adding a model" shows, appears on the New run
page's form, in the command line, trains in the real runner and exports to ONNX, with no other file edited."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.data.ingest import load_table
from engine.data.samples import add_sample
from tests.conftest import ROOT, cli

pytestmark = pytest.mark.slow

TOY = '''
"""A linear model for tables, added by tests/test_adding_a_model.py and removed when it ends."""

from __future__ import annotations

from typing import Any, Literal

from engine.models.configs import ModelConfigBase, dropout_field
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear


class ToyLinearConfig(ModelConfigBase):
    """One weight per column and answer."""

    name: Literal["toy_linear"] = "toy_linear"
    dropout: float = dropout_field(0.0, "the columns' numbers")


def toy_size(config: ToyLinearConfig, spec: dict[str, Any]) -> ModelSize:
    return ModelSize(linear(spec["n_features"], spec["n_outputs"]), 2 * spec["n_features"] + spec["n_outputs"])


def build_toy(config: ToyLinearConfig, spec: dict[str, Any]):
    from torch import nn

    return nn.Sequential(nn.Dropout(config.dropout), nn.Linear(spec["n_features"], spec["n_outputs"]))


MODEL = ModelEntry(
    name="toy_linear", title="Toy linear model", config=ToyLinearConfig,
    builder="engine.models.zoo.toy_linear:build_toy", size=toy_size, kinds=("tabular",), order=15,
    description="One weight per column and answer.", presets={"Best": dict(dropout=0.2)},
    training={"Quick": dict(learning_rate=0.05)})
'''

# The New run page, opened in its own process (which finds the new module when it starts), with the toy model
# chosen: it prints the models offered and the settings the form draws.
PAGE = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("dashboard/app.py", default_timeout=120).run()
at.query_params["dataset"] = sys.argv[1]
at.switch_page("views/new_run.py").run()
model = next(box for box in at.selectbox if box.label == "Model")
print("OFFERED", model.options)
model.set_value("toy_linear").run()
assert not at.exception, at.exception
print("FIELDS", sorted(widget.label for widget in at.number_input))
"""


@pytest.fixture
def toy_model(home):
    path = ROOT / "engine" / "models" / "zoo" / "toy_linear.py"
    path.write_text(TOY)
    try:
        yield "toy_linear"
    finally:
        path.unlink(missing_ok=True)


def test_one_module_adds_a_model_to_the_form_the_command_line_training_and_export(toy_model, tmp_path):
    iris = add_sample("iris")

    listed = cli("models", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "toy_linear" in listed.stdout and "Toy linear model" in listed.stdout

    page = subprocess.run([sys.executable, "-c", PAGE, str(iris["id"])], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))
    assert page.returncode == 0, page.stderr[-3000:]
    assert "Toy linear model" in page.stdout and "Dropout" in page.stdout

    queued = cli("train", "--dataset", str(iris["id"]), "--model", toy_model, "--preset", "quick",
                 "--set", "training.epochs=3", "--json")
    assert queued.returncode == 0, queued.stderr
    run = json.loads(queued.stdout)
    assert run["config"]["model"]["name"] == toy_model and run["config"]["training"]["learning_rate"] == 0.05
    trained = subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run["id"])], cwd=ROOT,
                             capture_output=True, text=True, timeout=300, env={**os.environ, "TRAINYARD_THREADS": "1"})
    assert trained.returncode == 0, trained.stderr[-3000:]

    exported = cli("export", str(run["id"]), "--format", "onnx", "--out", str(tmp_path / "toy.onnx"), "--json")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "toy.onnx").stat().st_size > 0
    flowers = tmp_path / "flowers.csv"
    load_table(iris).drop(columns=[iris["target"]]).head(3).to_csv(flowers, index=False)
    answers = cli("predict", str(run["id"]), str(flowers), "--json")
    assert answers.returncode == 0, answers.stderr
    assert len(json.loads(answers.stdout)) == 3
