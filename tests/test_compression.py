"""The int8 version of a trained run: made by ONNX Runtime (dynamic for dense layers, static for convolutions),
measured against the original, kept in the export folder, bundled with a README example that runs, printed by
the command line, served over HTTP and shown on the Evaluate page; refused plainly, with nothing written, when
there is no model or nothing ONNX Runtime can quantise."""

import json
import os
import re
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from db import repo
from engine.data.ingest import add_dataset
from engine.errors import UserError
from engine.serving.runtime import COMPRESSION_FILE, INT8_FILE, ONNX_FILE, OnnxModel, export_folder
from tests.conftest import APP, LOCAL, make_table, page_texts, shapes_zip, use_home
from tests.conftest import run_cli
from tests.trained import table_dataset, train_run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's notice about its test client's HTTP library
    from fastapi.testclient import TestClient

MEASURED = {"bytes", "latency_ms", "rows_per_second", "batch_rows", "metric"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished table run and a finished picture run (a network with convolutions), shared by this file."""
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp("home"))
        # int8 pays past a few weights; an ensemble of networks, as the tables' Balanced preset trains
        table = train_run(table_dataset(home, rows=300), hidden_sizes=(128, 128), members=3)
        shapes = add_dataset(shapes_zip(home / "shapes.zip", per_class=12), name="shapes")
        image = train_run(shapes, "seed_cnn", epochs=2)
        yield {"home": home, "table": table, "image": image}


@pytest.fixture(scope="module")
def table_int8(runs):
    from engine.serving.export import export_run

    return export_run(runs["table"]["id"], "onnx", quantize="int8")


@pytest.mark.slow
def test_table_model_is_quantised_dynamically_and_answers_like_the_original(runs, table_int8):
    from engine.data.prepare import prepare_run_data

    run_id = runs["table"]["id"]
    document = table_int8["check"]
    assert table_int8["path"] == str(export_folder(run_id) / INT8_FILE)
    assert json.loads((export_folder(run_id) / COMPRESSION_FILE).read_text()) == document
    assert document["method"] == "dynamic" and document["metric"] == "accuracy"
    assert MEASURED <= set(document["before"]) and MEASURED <= set(document["after"])
    assert {"size_ratio", "speedup", "latency_speedup", "metric_drop", "flagged", "verdict", "warning",
            "int8_layers", "same_answer_share"} <= set(document)
    assert document["int8_layers"]["MatMulInteger"] == 3 * 3  # each dense layer of each network of the ensemble
    assert document["after"]["bytes"] < document["before"]["bytes"]
    assert re.fullmatch(r"\d+\.\d× (smaller|larger), \d+\.\d× (faster|slower), accuracy [\d.]+ % → [\d.]+ %",
                        document["verdict"]), document["verdict"]

    # On the run's own test rows, the int8 file answers as the float one does.
    _, data = prepare_run_data(repo.get_run(run_id))
    x = data.arrays["test"][0]
    before = OnnxModel(export_folder(run_id) / ONNX_FILE)(x)
    after = OnnxModel(export_folder(run_id) / INT8_FILE)(x)
    assert (before.argmax(1) == after.argmax(1)).mean() >= 0.95
    assert np.abs(before - after).max() < 0.25 * max(1.0, np.abs(before).max())


@pytest.mark.slow
def test_picture_model_with_convolutions_is_quantised_statically(runs):
    from engine.serving.export import export_run

    document = export_run(runs["image"]["id"], "onnx", quantize="int8")["check"]
    assert document["method"] == "static" and document["calibration_rows"] > 0
    assert "QuantizeLinear" in document["int8_layers"]
    assert document["size_ratio"] < 0.4
    assert document["same_answer_share"] >= 0.8
    assert abs(document["metric_drop"]) <= 100 and document["flagged"] == (document["metric_drop"] > 1)


def test_an_int8_version_no_smaller_than_the_original_is_flagged():
    from engine.serving.measure import warning

    tiny = {"metric": "accuracy", "metric_drop": 0.0, "size_ratio": 1.67}
    assert warning(tiny).startswith("It is no smaller: this model has so few weights")
    assert warning(tiny | {"size_ratio": 0.3}) is None
    assert "loses 2.0 points" in warning(tiny | {"metric_drop": 2.0})


@pytest.mark.slow
def test_int8_bundle_readme_example_runs_in_a_plain_process(runs, table_int8, tmp_path):
    from engine.serving.export import export_run

    run_id = runs["table"]["id"]
    result = export_run(run_id, "bundle", tmp_path, quantize="int8")
    assert result["path"] == str(tmp_path / f"trainyard-run-{run_id}-int8.zip")
    root = f"trainyard-run-{run_id}-int8"
    with zipfile.ZipFile(result["path"]) as archive:
        assert sorted(archive.namelist()) == sorted(f"{root}/{n}" for n in (
            "README.md", INT8_FILE, "preprocessing.json", "labels.json", "example_input.json"))
        archive.extractall(tmp_path / "out")
    folder = tmp_path / "out" / root
    readme = (folder / "README.md").read_text()
    assert table_int8["check"]["verdict"] in readme and "--quantized" in readme
    code = "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))
    assert 'InferenceSession("model.int8.onnx")' in code
    ran = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "class_" in ran.stdout


@pytest.mark.slow
def test_export_command_prints_the_table_and_json(runs, table_int8, capsys):
    run_id = str(runs["table"]["id"])
    code, out, err = run_cli(capsys, "export", run_id, "--format", "onnx", "--quantize", "int8")
    assert code == 0, err
    for words in ("ORIGINAL", "INT8", "File size", "One row", "Batch of", "Test accuracy", "Method: dynamic int8",
                  "Verdict: "):
        assert words in out, out
    code, out, err = run_cli(capsys, "export", run_id, "--format", "onnx", "--quantize", "int8", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["quantize"] == "int8" and document["check"]["verdict"] == table_int8["check"]["verdict"]
    code, _, err = run_cli(capsys, "export", run_id, "--format", "torchscript", "--quantize", "int8")
    assert code != 0 and "made from the ONNX model" in err


@pytest.mark.slow
def test_pruning_first_is_measured_too(runs, table_int8, capsys):
    run_id = str(runs["table"]["id"])
    code, out, err = run_cli(capsys, "export", run_id, "--format", "onnx", "--quantize", "int8", "--prune", "0.5",
                             "--json")
    assert code == 0, err
    document = json.loads(out)["check"]
    assert document["prune"] == 0.5 and document["pruned_share"] == pytest.approx(0.5, abs=0.02)
    assert "smallest 50% of the weights" in run_cli(capsys, "export", run_id, "--format", "onnx", "--quantize",
                                                    "int8", "--prune", "0.5")[1]
    code, _, err = run_cli(capsys, "export", run_id, "--format", "onnx", "--quantize", "int8", "--prune", "1.5")
    assert code != 0 and "between 0 and 1" in err
    run_cli(capsys, "export", run_id, "--format", "onnx", "--quantize", "int8")  # back to the unpruned version


@pytest.mark.slow
def test_http_service_answers_with_the_int8_model(runs, table_int8):
    from engine.serving.http import create_app, describe, load_predictor

    run_id = runs["table"]["id"]
    predictor = load_predictor(run_id, quantized=True)
    assert predictor.runtime == "onnx int8"
    client = TestClient(create_app(predictor, describe(predictor, repo.get_run(run_id))), base_url=LOCAL)
    rows = make_table(rows=4, seed=5).drop(columns="label")
    answer = client.post("/predict", json={"rows": rows.to_dict(orient="records")})
    assert answer.status_code == 200, answer.text
    expected = load_predictor(run_id).predict(rows, [f"row {i}" for i in range(1, 5)])
    got = answer.json()["predictions"]
    assert sum(g["prediction"] == e["prediction"] for g, e in zip(got, expected)) >= 3
    assert client.get("/model").json()["runtime"] == "onnx int8"


@pytest.mark.slow
def test_evaluate_page_shows_the_measurement_and_the_verdict(runs, table_int8):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(runs["table"]["id"])
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, at.exception
    document = json.loads((export_folder(runs["table"]["id"]) / COMPRESSION_FILE).read_text())
    assert document["verdict"] in page_texts(at)
    table = next(frame.value for frame in at.dataframe if "int8" in frame.value.columns)
    assert list(table.iloc[:, 0][:2]) == ["File size", "One row"]


@pytest.mark.slow
def test_evaluate_page_flags_a_large_loss_and_makes_the_int8_download(runs):
    """The picture run's measurement, made to lose 2.3 points, is flagged in plain words; its download is made on
    the page by the engine in a child process."""
    from streamlit.testing.v1 import AppTest

    from engine.serving.measure import verdict, warning
    from engine.serving.export import export_run

    export_run(runs["image"]["id"], "onnx", quantize="int8")  # made already when the whole file runs
    path = export_folder(runs["image"]["id"]) / COMPRESSION_FILE
    document = json.loads(path.read_text())
    document["after"]["metric"] = document["before"]["metric"] - 0.023
    document["metric_drop"] = 2.3
    document["flagged"], document["verdict"], document["warning"] = True, verdict(document), warning(document)
    stamp = (path.stat().st_atime, path.stat().st_mtime)
    path.write_text(json.dumps(document))
    os.utime(path, stamp)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.query_params["run"] = str(runs["image"]["id"])
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, at.exception
    assert "It loses 2.3 points of accuracy: keep the original unless size matters most." in page_texts(at)
    next(b for b in at.button if b.label == "Prepare the int8 download").click().run()
    assert not at.exception, at.exception
    assert any(b.label == "Download the int8 model (ZIP)" for b in at.get("download_button")), page_texts(at)


@pytest.mark.slow
def test_playground_answers_with_the_chosen_version(runs, table_int8):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(runs["table"]["id"])
    at.switch_page("views/playground.py").run()
    assert not at.exception, at.exception
    at.radio(key="model-version").set_value("int8 (smaller)").run()
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception, at.exception
    assert next(m for m in at.metric if m.label == "Prediction").value.startswith("class_")
    assert "int8 version" in page_texts(at)
    # The reasons come from the original model (an int8 file has no gradients), and the page says so.
    assert "These reasons are traced through the original model" in page_texts(at)


def test_an_int8_answer_says_whether_the_original_behind_its_reasons_agrees():
    from dashboard.components.explanations import original_model_words

    same = original_model_words({"prediction": "cat"}, {"prediction": "cat", "confidence": 0.9})
    assert same.endswith("both answer cat here.")
    differ = original_model_words({"prediction": "cat"}, {"prediction": "dog", "confidence": 0.6})
    assert "the original answers cat and the int8 version dog" in differ
    number = original_model_words({"prediction": 12.31}, {"prediction": 12.4})
    assert number.endswith("the original predicts 12.31 for this input, the int8 version 12.4.")
    assert original_model_words({"recommendations": []}, {"top_items": []}).endswith("8-bit copy.")


@pytest.mark.slow
def test_a_run_without_its_model_is_refused_with_nothing_written(runs, capsys):
    dataset = repo.get_dataset(runs["table"]["dataset_id"])
    run = repo.create_run(dataset["id"], "mlp", {"model": {"name": "mlp"}})
    repo.finish_run(run["id"], "completed")
    code, _, err = run_cli(capsys, "export", str(run["id"]), "--format", "bundle", "--quantize", "int8")
    assert code != 0 and f"model file of run {run['id']} is missing" in err, err
    assert not export_folder(run["id"]).exists()


@pytest.mark.slow
def test_a_model_onnx_runtime_cannot_quantise_is_refused_naming_its_layers(runs, capsys):
    """A run whose ONNX graph holds only element-wise layers (a product with constants, sums): nothing to quantise."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from engine.serving.export import export_run

    run = train_run(repo.get_dataset(runs["table"]["dataset_id"]), epochs=1)
    export_run(run["id"], "onnx")
    folder = export_folder(run["id"])
    width = json.loads((folder / "preprocessing.json").read_text())["n_features"]
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "w"], ["scaled"]),
         helper.make_node("ReduceSum", ["scaled", "axes"], ["total"], keepdims=1),
         helper.make_node("Neg", ["total"], ["negative"]),
         helper.make_node("Concat", ["total", "negative"], ["output"], axis=1)],
        "elementwise", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(np.linspace(-1, 1, width).astype(np.float32), "w"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / ONNX_FILE))
    before = sorted(p.name for p in folder.iterdir())

    code, _, err = run_cli(capsys, "export", str(run["id"]), "--format", "bundle", "--quantize", "int8")
    assert code != 0 and "nothing in this model it can store in int8" in err, err
    assert "Mul, ReduceSum" in err
    assert sorted(p.name for p in folder.iterdir()) == before  # no int8 file, no measurement, no leftovers
    with pytest.raises(UserError, match="nothing in this model"):
        export_run(run["id"], "onnx", quantize="int8")
