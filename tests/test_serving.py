"""Using a trained run: predictions from the command line, exports that match PyTorch, the bundle's README
example run as written, and the HTTP service answering good and bad requests."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import warnings
import zipfile

import httpx
import numpy as np
import pandas as pd
import pytest

from db import repo
from engine.errors import DataError
from engine.serving.inputs import INPUTS
from engine.data.tables import read_table
from engine.serving.runtime import Predictor
from tests.conftest import APP, LOCAL, ROOT, cli, make_table, run_cli, use_home
from tests.trained import table_dataset, train_run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's notice about its test client's HTTP library
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished run on a small table with empty cells in a number column, shared by this file's tests."""
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp("home"))
        dataset = table_dataset(home, rows=300, gaps=True)
        run = train_run(dataset)
        yield {"home": home, "run": run, "dataset": dataset}


@pytest.fixture(scope="module")
def predictors(trained):
    from engine.serving.http import load_predictor
    from engine.serving.predict import load_trained, torch_predictor

    return {"onnx": load_predictor(trained["run"]["id"], "onnx"),
            "torch": torch_predictor(load_trained(trained["run"]["id"]))}


def rows(n: int = 5, seed: int = 3) -> pd.DataFrame:
    """n rows to predict; the second lacks its 'x2', as some training rows did."""
    frame = make_table(rows=n, seed=seed).drop(columns="label").astype({"x2": object})
    frame.loc[1:1, "x2"] = None
    return frame


@pytest.mark.slow
def test_predict_command_prints_labels_and_probabilities(trained, predictors, tmp_path):
    path = tmp_path / "new.csv"
    rows().to_csv(path, index=False)
    result = cli("predict", str(trained["run"]["id"]), str(path), "--json")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["input"] for a in answers] == [f"row {i}" for i in range(1, 6)]
    for answer in answers:
        assert answer["prediction"] in ("class_0", "class_1")
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
        assert answer["confidence"] == max(answer["probabilities"].values())
    same = predictors["torch"].predict(rows(), [f"row {i}" for i in range(1, 6)])
    assert [a["prediction"] for a in answers] == [a["prediction"] for a in same]


@pytest.mark.slow
def test_predict_command_as_text_and_with_bad_inputs(trained, tmp_path, capsys):
    run_id = str(trained["run"]["id"])
    good = tmp_path / "new.csv"
    rows(3).to_csv(good, index=False)
    code, out, _ = run_cli(capsys, "predict", run_id, str(good))
    assert code == 0 and out.splitlines()[0].split() == ["INPUT", "PREDICTION", "CONFIDENCE"]
    assert len(out.splitlines()) == 4

    wrong = tmp_path / "wrong.csv"
    make_table(rows=5).drop(columns=["x1", "colour"]).to_csv(wrong, index=False)
    for args, words in ((["predict", run_id, str(wrong)], "missing: x1, colour"),
                        (["predict", run_id, str(tmp_path / "absent.csv")], "no file"),
                        (["predict", "999", str(good)], "no run 999"),
                        (["export", "999"], "no run 999")):
        code, _, err = run_cli(capsys, *args)
        assert code != 0 and words in err, err


@pytest.mark.slow
def test_onnx_pt2_and_torchscript_exports_match_pytorch(trained, predictors, tmp_path):
    """Every export answers like PyTorch within 1e-4 on the run's real test rows, at any batch size."""
    import torch

    from engine.serving.export import export_run
    from engine.serving.predict import load_trained
    from engine.serving.runtime import OnnxModel

    run_id = trained["run"]["id"]
    model = load_trained(run_id)
    x = predictors["torch"].inputs.encode(model.preprocessing, make_table(rows=64, seed=9))
    with torch.no_grad():
        expected = model.model(torch.from_numpy(x)).numpy()
    onnx = export_run(run_id, "onnx", tmp_path / "model.onnx")
    assert onnx["check"]["max_abs_difference"] <= 1e-4
    session = OnnxModel(tmp_path / "model.onnx")
    for batch in (1, 3, 64):
        assert np.abs(session(x[:batch]) - expected[:batch]).max() <= 1e-4
    program = export_run(run_id, "pt2", tmp_path / "model.pt2")
    assert program["check"]["max_abs_difference"] <= 1e-4 and "note" not in program
    loaded = torch.export.load(str(tmp_path / "model.pt2")).module()
    with torch.inference_mode():
        for batch in (1, 3, 64):
            assert np.abs(loaded(torch.from_numpy(x[:batch])).numpy() - expected[:batch]).max() <= 1e-4
    script = export_run(run_id, "torchscript", tmp_path / "model.pt")
    assert script["check"]["max_abs_difference"] <= 1e-4 and "deprecates" in script["note"]
    loaded = torch.jit.load(str(tmp_path / "model.pt"))
    with torch.no_grad():
        assert np.abs(loaded(torch.from_numpy(x)).numpy() - expected).max() <= 1e-4


@pytest.mark.parametrize("name", ["mlp", "seed_cnn", "resnet_small", "bag_of_embeddings", "lstm", "gru",
                                  "transformer", "matrix_factorization", "ncf"])
@pytest.mark.slow
def test_the_pt2_program_answers_as_the_engine_for_every_model(name, tmp_path):
    """The torch.export program, saved and loaded back, gives the engine's outputs within 1e-5 (pictures, texts,
    tables, ratings; the pretrained models are checked in their own files)."""
    from types import SimpleNamespace

    import torch

    from engine.models.registry import build_model
    from engine.serving.formats import example_inputs, export_program
    from tests.factories import model_config, spec_for

    spec = spec_for(name)
    model = build_model(model_config(name), spec, seed=0).eval()
    check = export_program(SimpleNamespace(model=model, spec=spec), tmp_path / "model.pt2")
    assert check["examples_checked"] == 8
    loaded = torch.export.load(str(tmp_path / "model.pt2")).module()
    x = torch.from_numpy(example_inputs(spec, 5, seed=11))
    with torch.inference_mode():
        assert (loaded(x) - model(x)).abs().max().item() <= 1e-5


@pytest.mark.slow
def test_bundle_has_everything_and_its_readme_example_runs(trained, tmp_path, capsys):
    run_id = trained["run"]["id"]
    code, out, err = run_cli(capsys, "export", str(run_id), "--format", "bundle", "--out", str(tmp_path / "bundle.zip"),
                             "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["bytes"] == (tmp_path / "bundle.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        names = sorted(archive.namelist())
        archive.extractall(tmp_path / "out")
    root = f"trainyard-run-{run_id}"
    assert names == sorted(f"{root}/{n}" for n in ("README.md", "model.onnx", "model.pt2",
                                                   "preprocessing.json", "labels.json", "example_input.json"))
    folder = tmp_path / "out" / root
    assert json.loads((folder / "labels.json").read_text())["labels"] == ["class_0", "class_1"]
    assert json.loads((folder / "preprocessing.json").read_text())["kind"] == "tabular"

    # The README's Python blocks, run as written in the bundle's folder, by a process without Trainyard on its path.
    code = "\n".join(re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S))
    ran = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "class_" in ran.stdout


@pytest.mark.slow
def test_http_service_answers_good_requests(trained, predictors):
    from engine.serving.http import create_app, describe

    run = repo.get_run(trained["run"]["id"])
    client = TestClient(create_app(predictors["onnx"], describe(predictors["onnx"], run)), base_url=LOCAL)
    body = {"rows": rows(3).to_dict(orient="records")}
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    expected = predictors["torch"].predict(rows(3), ["row 1", "row 2", "row 3"])
    for got, want in zip(predictions, expected):
        assert got["prediction"] == want["prediction"]
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-4)

    unknown = client.post("/predict", json={"rows": [{"x1": None, "x2": "2.5", "colour": "purple", "extra": 1}]})
    assert unknown.status_code == 200, unknown.text  # a missing number, a number as text, an unseen category
    marked = client.post("/predict", json={"rows": [{"x1": "?", "x2": 2.5, "colour": "red"},
                                                    {"x1": None, "x2": 2.5, "colour": "red"}]})
    assert marked.status_code == 200, marked.text  # "?" for an empty cell, as in the files Trainyard reads
    first, second = marked.json()["predictions"]
    assert first["probabilities"] == second["probabilities"]
    assert client.get("/health").json() == {"status": "ok"}
    about = client.get("/model").json()
    assert about["labels"] == ["class_0", "class_1"] and about["runtime"] == "onnx"
    assert [c["column"] for c in about["inputs"]] == ["x1", "x2", "colour"]
    schema = client.get("/openapi.json").json()
    assert "/predict" in schema["paths"]
    assert set(schema["components"]["schemas"]["Row"]["properties"]) == {"x1", "x2", "colour"}
    assert "swagger" in client.get("/docs").text.lower()


@pytest.mark.parametrize("request_kwargs, status, words", [
    ({"json": {"rows": [{"x2": 1.0}]}}, 422, "rows[0].x1 is missing"),
    ({"json": {"rows": [{"x1": "lots", "x2": 1, "colour": "red"}]}}, 422, "rows[0].x1 should be a number"),
    ({"json": {"rows": []}}, 422, "rows should hold at least 1"),
    ({"json": {"row": []}}, 422, "row is not a field this service knows"),
    ({"json": [1, 2]}, 422, "should be a JSON object"),
    ({"content": b"{oops", "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
    ({}, 422, "the request body is missing"),
    ({"json": {"rows": [{"x1": 1, "x2": 1, "colour": "red"}] * 1001}}, 413, "at most 1000 fit"),
    ({"json": {"rows": [{"x1": 1, "x2": 1, "colour": "red"}] * 100_000}}, 413, "at most 1000 fit"),
    ({"content": b'{"rows": [{"x1": NaN, "x2": 1, "colour": "red"}]}', "headers": {"content-type": "application/json"}},
     422, "rows[0].x1 should be a finite number"),
    ({"content": b'{"rows": [{"x1": Infinity, "x2": 1e999, "colour": "red"}]}',
      "headers": {"content-type": "application/json"}}, 422, "rows[0].x2 should be a finite number"),
    ({"content": b"x" * 100, "headers": {"content-length": str(64 * 2**20)}}, 413, "larger than"),
])
@pytest.mark.slow
def test_http_service_answers_bad_requests_with_a_clear_4xx(trained, predictors, request_kwargs, status, words):
    from engine.serving.http import create_app, describe

    run = repo.get_run(trained["run"]["id"])
    client = TestClient(create_app(predictors["onnx"], describe(predictors["onnx"], run)), base_url=LOCAL)
    answer = client.post("/predict", **request_kwargs)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"], answer.json()
    assert client.get("/predict").status_code == 405 and "not allowed" in client.get("/predict").json()["error"]
    assert client.get("/nothing").status_code == 404


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_command_answers_over_http(trained):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", str(trained["run"]["id"]), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read().decode()[-2000:]
            time.sleep(0.3)
        good = httpx.post(f"{url}/predict", json={"rows": rows(2).to_dict(orient="records")}, timeout=10)
        assert good.status_code == 200 and len(good.json()["predictions"]) == 2
        bad = httpx.post(f"{url}/predict", json={"rows": [{"x1": 1}]}, timeout=10)
        assert bad.status_code == 422 and "is missing" in bad.json()["error"]
        assert httpx.get(f"{url}/openapi.json", timeout=10).json()["info"]["title"].startswith("Trainyard run")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_playground_predicts_a_row_the_way_pytorch_does(trained, predictors):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(trained["run"]["id"])
    at.switch_page("views/playground.py").run()
    assert not at.exception, at.exception
    at.number_input(key="number-0").set_value(2.5)
    at.number_input(key="number-1").set_value(-1.0)
    at.selectbox(key="category-2").set_value("red")
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception, at.exception
    shown = next(m for m in at.metric if m.label == "Prediction")
    expected = predictors["torch"].predict(pd.DataFrame([{"x1": 2.5, "x2": -1.0, "colour": "red"}]))[0]
    assert shown.value == expected["prediction"]
    assert f"{expected['confidence']:.0%} sure" in [c.value for c in at.caption]
    assert len(at.get("plotly_chart")) == 2  # the probabilities, and why this answer


def served_alike(run: dict, torch: Predictor, new: pd.DataFrame, tmp_path) -> tuple:
    """Check that run answers the rows of new as torch does from a file (the predict command) and as JSON rows
    sent to its service (ONNX); give back (the answers, the ONNX predictor, the service's client, the rows)."""
    from engine.serving.http import create_app, describe, load_predictor

    new.to_csv(tmp_path / "new.csv", index=False)
    expected = torch.predict(read_table(tmp_path / "new.csv"))
    printed = cli("predict", str(run["id"]), str(tmp_path / "new.csv"), "--json")
    assert printed.returncode == 0, printed.stderr
    assert [a["prediction"] for a in json.loads(printed.stdout)] == [a["prediction"] for a in expected]

    onnx = load_predictor(run["id"], "onnx")
    client = TestClient(create_app(onnx, describe(onnx, repo.get_run(run["id"]))), base_url=LOCAL)
    records = new.astype(object).where(new.notna(), None).to_dict(orient="records")
    answer = client.post("/predict", json={"rows": records})
    assert answer.status_code == 200, answer.text
    for got, want in zip(answer.json()["predictions"], expected):
        assert got["prediction"] == want["prediction"]
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-4)
    return expected, onnx, client, records


@pytest.mark.slow
def test_a_table_with_dates_is_served_as_it_was_trained(home, tmp_path, capsys):
    """A date column is read the same way by every path a row takes: a file of rows, JSON rows sent to the service,
    the Playground's form and the bundle's own encoder, which needs no Trainyard."""
    from streamlit.testing.v1 import AppTest

    from engine.serving.predict import load_trained, torch_predictor
    from tests.trained import sold_dates, table_dataset

    run = train_run(table_dataset(tmp_path, dates=True))
    torch = torch_predictor(load_trained(run["id"]))
    new = make_table(rows=4, seed=5).drop(columns="label").assign(sold=sold_dates(4, seed=5))
    expected, onnx, client, records = served_alike(run, torch, new, tmp_path)
    zoned = client.post("/predict", json={"rows": [records[0] | {"sold": records[0]["sold"] + "T00:00:00Z"}]})
    assert zoned.json()["predictions"][0]["confidence"] == pytest.approx(expected[0]["confidence"], abs=1e-4)
    bad = client.post("/predict", json={"rows": [records[0] | {"sold": "next Tuesday"}]})
    assert bad.status_code == 422 and "rows[0].sold" in bad.json()["error"], bad.text
    about = client.get("/model").json()
    assert about["inputs"][0] == {"column": "sold", "type": "date"}
    assert [c["column"] for c in about["inputs"]] == ["sold", "x1", "x2", "colour"]

    code, _, err = run_cli(capsys, "export", str(run["id"]), "--format", "bundle", "--out", str(tmp_path / "b.zip"))
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        archive.extractall(tmp_path / "out")
    folder = tmp_path / "out" / f"trainyard-run-{run['id']}"
    readme = "\n".join(re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S))
    readme += f"\nprint('ROWS', json.dumps(encode({json.dumps(records)}).tolist()))"
    ran = subprocess.run([sys.executable, "-c", readme], cwd=folder, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr[-2000:]
    encoded = json.loads(ran.stdout.split("ROWS ", 1)[1])
    assert np.allclose(encoded, INPUTS["tabular"].encode(onnx.preprocessing, read_table(tmp_path / "new.csv")),
                       atol=1e-5)

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(run["id"])
    at.switch_page("views/playground.py").run()
    assert not at.exception, at.exception
    at.text_input(key="date-0").set_value(records[1]["sold"] or "2022-05-06")
    at.number_input(key="number-1").set_value(records[1]["x1"])
    at.number_input(key="number-2").set_value(records[1]["x2"])
    at.selectbox(key="category-3").set_value(records[1]["colour"])
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception, at.exception
    shown = next(m for m in at.metric if m.label == "Prediction")
    assert shown.value == torch.predict(pd.DataFrame([records[1] | {"sold": records[1]["sold"] or "2022-05-06"}])
                                        )[0]["prediction"]


@pytest.mark.slow
def test_a_table_with_sentences_is_served_as_it_was_trained(home, tmp_path):
    """A run on a table with a column of sentences answers by their words from a file of rows, from JSON rows sent
    to the service and from the Playground's form; the service describes the column and refuses a list for it."""
    from streamlit.testing.v1 import AppTest

    from engine.serving.predict import load_trained, torch_predictor
    from tests.trained import NOTE_WORDS

    run = train_run(table_dataset(tmp_path, rows=400, notes=True), epochs=30)
    torch = torch_predictor(load_trained(run["id"]))
    # Numbers and a colour that leave the answer open: the note's word decides it.
    new = pd.DataFrame({"x1": [0.0, 0.0, 0.0], "x2": [0.0, 0.0, 0.0], "colour": ["green"] * 3,
                        "note": [f"Please, a {NOTE_WORDS[0]} delivery.", f"An {NOTE_WORDS[1]} parcel!", None]})
    expected, _, client, records = served_alike(run, torch, new, tmp_path)
    assert [a["prediction"] for a in expected[:2]] == ["class_0", "class_1"]
    bad = client.post("/predict", json={"rows": [records[0] | {"note": ["a", "list"]}]})
    assert bad.status_code == 422 and "rows[0].note" in bad.json()["error"], bad.text
    assert {"column": "note", "type": "text"} in client.get("/model").json()["inputs"]

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["run"] = str(run["id"])
    at.switch_page("views/playground.py").run()
    assert not at.exception, at.exception
    at.number_input(key="number-0").set_value(0.0)
    at.number_input(key="number-1").set_value(0.0)
    at.selectbox(key="category-2").set_value("green")
    at.text_area(key="text-3").set_value(records[1]["note"])
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception, at.exception
    assert next(m for m in at.metric if m.label == "Prediction").value == expected[1]["prediction"]

def test_playground_explains_a_run_whose_model_is_missing(home, tmp_path):
    from streamlit.testing.v1 import AppTest

    dataset = table_dataset(tmp_path, rows=60)
    run = repo.create_run(dataset["id"], "mlp", {"model": {"name": "mlp"}})
    repo.finish_run(run["id"], "completed")  # finished, yet its model file is gone
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.query_params["run"] = str(run["id"])
    at.switch_page("views/playground.py").run()
    assert not at.exception, at.exception
    assert "model file of run 1 is missing" in at.error[0].value


# ---------------------------------------------------------------- other kinds, with a stand-in model


RATINGS_PREP = {"kind": "ratings", "task": "rating", "user_column": "user", "item_column": "item",
                "users": ["ann", "bob"], "items": ["a", "b", "c", "d"], "target_mean": 3.0, "target_std": 1.0,
                "rating_min": 1.0, "rating_max": 5.0}


def item_scores(pairs: np.ndarray) -> np.ndarray:
    """A stand-in model: user 'ann' likes later items, everyone else earlier ones."""
    scores = np.where(pairs[:, 0] == 1, pairs[:, 1] - 2.5, 2.5 - pairs[:, 1])
    return scores.astype(np.float32)[:, None]


def test_ratings_predictions_give_each_user_their_top_items():
    predictor = Predictor(RATINGS_PREP, item_scores, "test")
    ann, stranger = predictor.predict(["ann", "zoe"], ["ann", "zoe"], top=2)
    assert [i["item"] for i in ann["top_items"]] == ["d", "c"] and ann["known_user"]
    assert ann["top_items"][0]["predicted_rating"] == pytest.approx(4.5)
    assert [i["item"] for i in stranger["top_items"]] == ["a", "b"] and not stranger["known_user"]
    everything = predictor.predict(["bob"], top=50)[0]["top_items"]
    assert len(everything) == 4 and everything[0]["predicted_rating"] <= 5.0


def test_http_service_for_ratings_and_texts():
    from engine.serving.http import create_app

    client = TestClient(create_app(Predictor(RATINGS_PREP, item_scores, "test"), {"run": 7}), base_url=LOCAL)
    answer = client.post("/predict", json={"users": ["ann", 42], "top": 3})
    assert answer.status_code == 200, answer.text
    assert [len(p["top_items"]) for p in answer.json()["predictions"]] == [3, 3]
    assert client.post("/predict", json={"users": ["ann"], "top": 0}).status_code == 422

    text_prep = {"kind": "text", "task": "classification", "text_column": "review", "classes": ["bad", "good"],
                 "vocabulary": ["great", "awful"], "max_length": 8}

    def words_model(tokens: np.ndarray) -> np.ndarray:  # logits: 'great' votes good, 'awful' votes bad
        good = (tokens == 2).sum(1) - (tokens == 3).sum(1)
        return np.stack([-good, good], axis=1).astype(np.float32)

    client = TestClient(create_app(Predictor(text_prep, words_model, "test"), {"run": 8}), base_url=LOCAL)
    answer = client.post("/predict", json={"texts": ["A great, great film", "Awful."]})
    assert answer.status_code == 200, answer.text
    assert [p["prediction"] for p in answer.json()["predictions"]] == ["good", "bad"]
    assert client.post("/predict", json={"texts": "not a list"}).status_code == 422


def test_image_requests_with_broken_images_get_a_400():
    from engine.serving.http import create_app

    prep = {"kind": "image", "task": "classification", "classes": ["a", "b"], "height": 8, "width": 8,
            "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    client = TestClient(create_app(Predictor(prep, lambda x: np.zeros((len(x), 2), np.float32), "test"), {"run": 9}),
                        base_url=LOCAL)
    import base64

    image = base64.b64encode(INPUTS["image"].example(prep)[0]).decode()
    assert client.post("/predict", json={"images": [image]}).status_code == 200
    broken = client.post("/predict", json={"images": [base64.b64encode(b"not an image").decode()]})
    assert broken.status_code == 400 and "could not be read" in broken.json()["error"]
    not_base64 = client.post("/predict", json={"images": ["@@@"]})
    assert not_base64.status_code == 400 and "base64" in not_base64.json()["error"]


@pytest.mark.slow
def test_ratings_of_many_items_are_scored_a_group_of_users_at_a_time():
    """1,000 users × 40,000 items would be 640 MB of pairs in one array: a request holds at most 100 such users,
    and a prediction of more scores them in groups with the same answers."""
    items = [f"item{i}" for i in range(40_000)]
    prep = RATINGS_PREP | {"items": items}
    calls = []

    def scores(pairs: np.ndarray) -> np.ndarray:
        calls.append(len(pairs))
        return (pairs[:, 1] % 97 - pairs[:, 0] % 5).astype(np.float32)[:, None]

    predictor = Predictor(prep, scores, "test")
    assert predictor.limit() == 100
    with pytest.raises(DataError, match="with 40,000 items to score for each; at most 100 fit"):
        predictor.encode(["ann"] * 1000)
    users = [str(i) for i in range(250)]
    answers = predictor.predict(users, users, top=3)
    assert [a["input"] for a in answers] == users and max(calls) <= 512
    assert answers[:3] == predictor.predict(users[:3], users[:3], top=3)


def test_too_many_inputs_are_refused_plainly():
    with pytest.raises(DataError, match="at most 1,000"):
        Predictor(RATINGS_PREP, item_scores, "test").predict([str(i) for i in range(1001)])
    with pytest.raises(DataError, match="give at least one user"):
        Predictor(RATINGS_PREP, item_scores, "test").predict([])
