"""Explanations where the truth is known: a table whose label is one column's sign, pictures whose classes differ
in one corner only, texts where one word decides; the command line, HTTP /explain, and bad input."""

import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from db import repo
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from engine.errors import UserError
from tests.conftest import LOCAL, cli, use_home
from tests.factories import corner_zip, sign_table, train, word_texts

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's notice about its test client's HTTP library
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run per kind of truth, trained once for this file."""
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp("home"))
        sign_table().to_csv(home / "signs.csv", index=False)
        table = add_dataset(home / "signs.csv", name="signs", target="label")
        word_texts().to_csv(home / "words.csv", index=False)
        texts = add_dataset(home / "words.csv", name="words", kind="text", target="label")
        (home / "pictures").mkdir()
        pictures = add_dataset(corner_zip(home / "pictures" / "corners.zip"), name="corners")
        yield {"home": home,
               "table": train(table, {"name": "mlp", "hidden_sizes": [16]}),
               "text": train(texts, {"name": "bag_of_embeddings", "embedding_dim": 16}),
               "image": train(pictures, {"name": "resnet_small", "base_width": 8}, epochs=15)}


def trained(run):
    from engine.serving.predict import load_trained

    return load_trained(run["id"])


@pytest.mark.slow
def test_the_deciding_column_comes_first(runs):
    from engine.explain.attributions import explain_inputs

    rows = sign_table(rows=40, seed=5)
    rows = rows[rows["decider"].abs() > 0.8].drop(columns="label").head(8)
    results = explain_inputs(trained(runs["table"]), rows.reset_index(drop=True))
    for result, decider in zip(results, rows["decider"]):
        assert result["prediction"] == ("up" if decider > 0 else "down")
        assert result["pushes"][0]["name"] == "decider", result["pushes"]
        assert result["pushes"][0]["direction"] == "towards"
        assert {p["name"] for p in result["pushes"]} == {"noise_a", "decider", "noise_b", "colour"}
        assert result["method"] == "integrated gradients" and result["steps"] > 0
        assert "decider" in result["sentence"] and "approximation" in result["note"]


@pytest.mark.slow
def test_permutation_importance_puts_the_deciding_column_on_top(runs, capsys):
    from engine.cli import main

    assert main(["explain", str(runs["table"]["id"]), "--importance", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["columns"][0]["name"] == "decider"
    assert document["columns"][0]["importance"] > 0.2  # shuffling it costs at least 20 points of accuracy
    assert all(c["importance"] < 0.05 for c in document["columns"][1:])
    assert document["metric"] == "accuracy" and "decider" in document["sentence"]

    # The table says what the sentence says: points of accuracy, not shares.
    assert main(["explain", str(runs["table"]["id"]), "--importance"]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = lines[0].split("costs ")[1].split(" points")[0]
    header = next(line for line in lines if line.startswith("COLUMN"))
    row = next(line for line in lines if line.startswith("decider"))
    assert "ACCURACY LOST (POINTS)" in header and row.split()[1] == said, lines


@pytest.mark.slow
def test_importance_of_a_price_is_said_in_plain_numbers(runs, capsys):
    from engine.cli import main

    rows = sign_table()
    rows["price"] = 250_000 + 80_000 * rows["decider"]  # shuffled, the decider adds about 110,000 to the error
    rows.drop(columns="label").to_csv(runs["home"] / "prices.csv", index=False)
    prices = add_dataset(runs["home"] / "prices.csv", name="prices", target="price", task="regression")
    run = train(prices, {"name": "mlp", "hidden_sizes": [16]})
    assert main(["explain", str(run["id"]), "--importance", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["metric"] == "rmse" and document["columns"][0]["name"] == "decider"
    added = document["sentence"].split("shuffling it between the test rows adds ")[1].split(" ")[0]
    assert "e+" not in document["sentence"] and "," in added and float(added.replace(",", "")) > 10_000, document


@pytest.mark.slow
def test_the_differing_corner_gets_the_attribution(runs):
    from engine.explain.attributions import explain_inputs

    rng = np.random.default_rng(9)
    files = []
    for corner in (255, 0, 255, 0):
        pixels = rng.integers(60, 196, size=(16, 16)).astype(np.uint8)
        pixels[:6, :6] = corner
        files.append(pixels)
    images = []
    for pixels in files:
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
        images.append(buffer.getvalue())
    results = explain_inputs(trained(runs["image"]), images)
    for result, corner in zip(results, (255, 0, 255, 0)):
        assert result["prediction"] == ("bright" if corner else "dark")
        heat = np.array(result["heatmap"])
        assert heat.shape == (16, 16) and heat.max() == pytest.approx(1.0)
        # the top-left quarter holds the most credit, well over a quarter of it
        assert max(result["regions"], key=result["regions"].get) == "top left", result["regions"]
        assert result["regions"]["top left"] > 0.35, result["regions"]
        # and a pixel of the corner itself counts for more than one and a half times a pixel elsewhere
        corner_share = heat[:6, :6].sum() / heat.sum()
        assert (corner_share / 36) / ((1 - corner_share) / (256 - 36)) > 1.5, corner_share


@pytest.mark.slow
def test_the_deciding_word_comes_first(runs):
    from engine.explain.attributions import explain_inputs

    texts = ["my friend said this item was excellent for daily use", "the box came on time and it was awful",
             "awful", "excellent blue box"]
    results = explain_inputs(trained(runs["text"]), texts)
    for result, text in zip(results, texts):
        decider = "excellent" if "excellent" in text else "awful"
        assert result["pushes"][0]["name"] == decider, result["pushes"]
        # towards the answer when the model got it right; away from it when filler words misled it
        right = result["prediction"] == ("good" if decider == "excellent" else "bad")
        assert result["pushes"][0]["direction"] == ("towards" if right else "away")
        assert [w["word"] for w in result["words"]] == text.split()  # every word, in the text's order


@pytest.mark.slow
def test_explain_command_json_and_mistakes(runs, tmp_path):
    path = tmp_path / "texts.csv"
    pd.DataFrame({"review": ["it was excellent", "awful box"]}).to_csv(path, index=False)
    result = cli("explain", str(runs["text"]["id"]), str(path), "--json")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["input"] for a in answers] == ["row 1", "row 2"]
    assert [a["pushes"][0]["name"] for a in answers] == ["excellent", "awful"]
    assert all(a["seconds"] < 2 for a in answers)
    from engine.explain.importance import explain_mistakes

    document = explain_mistakes(runs["image"]["id"])
    for mistake in document["mistakes"]:
        assert np.array(mistake["heatmap"]).shape == (16, 16) and mistake["sentence"]


@pytest.mark.slow
def test_http_explain_beside_predict(runs):
    from engine.serving.http import create_app, describe, explainer_for, load_predictor

    run_id = runs["table"]["id"]
    predictor = load_predictor(run_id, "torch")
    client = TestClient(create_app(predictor, describe(predictor, repo.get_run(run_id)),
                                   explainer=explainer_for(run_id)), base_url=LOCAL)
    rows = [{"noise_a": 0.1, "decider": 1.5, "noise_b": -0.2, "colour": "red"}]
    answer = client.post("/explain", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    explanation = answer.json()["explanations"][0]
    assert explanation["prediction"] == "up" and explanation["pushes"][0]["name"] == "decider"
    assert client.post("/predict", json={"rows": rows}).json()["predictions"][0]["prediction"] == "up"
    bad = client.post("/explain", json={"rows": [{"noise_a": "many"}]})
    assert bad.status_code == 422 and "should be a number" in bad.json()["error"]


def files_under(folder):
    return sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_bad_input_says_why_and_writes_nothing(runs, tmp_path, capsys):
    from engine.cli import main

    home = runs["home"]
    before = files_under(home / "runs")
    waiting = repo.create_run(runs["table"]["dataset_id"], "mlp", RunConfig.model_validate(
        {"model": {"name": "mlp"}}).model_dump())
    assert main(["explain", str(waiting["id"]), "x.csv", "--json"]) != 0
    assert "is waiting to train, so it has no model" in capsys.readouterr().err
    wrong = tmp_path / "wrong.csv"
    pd.DataFrame({"noise_a": [1.0], "colour": ["red"]}).to_csv(wrong, index=False)
    assert main(["explain", str(runs["table"]["id"]), str(wrong)]) != 0
    assert "These input columns are missing: decider, noise_b" in capsys.readouterr().err
    assert main(["explain", str(runs["image"]["id"]), str(wrong)]) != 0
    assert "could not be read as an image" in capsys.readouterr().err
    assert main(["explain", str(runs["text"]["id"]), "--importance"]) != 0
    assert "for tables only" in capsys.readouterr().err
    assert main(["explain", str(runs["text"]["id"])]) != 0
    assert "Give the inputs to explain" in capsys.readouterr().err
    from engine.explain.attributions import explain_inputs

    with pytest.raises(UserError, match="at most 32 can be explained"):
        explain_inputs(trained(runs["text"]), ["excellent"] * 33)
    assert files_under(home / "runs") == before


@pytest.mark.slow
def test_pages_show_explanations(runs, monkeypatch):
    """The Playground explains a typed text; Evaluate explains its worst mistakes and ranks a table's columns."""
    from tests.conftest import open_page, page_texts

    monkeypatch.setenv("TRAINYARD_HOME", str(runs["home"]))
    at = open_page("playground", timeout=240, run=runs["text"]["id"])
    at.text_area(key="text").set_value("the box was excellent <script>")
    next(button for button in at.button if button.label == "Predict").click()
    at.run(timeout=120)
    assert not at.exception, at.exception
    texts = page_texts(at)
    assert "Why this answer" in texts and "**excellent**" in texts and "approximation" in texts
    assert "<script>" not in texts  # user text is escaped, never markup

    at = open_page("evaluate", timeout=120, run=runs["table"]["id"])
    at.toggle(key="column-importance").set_value(True).run(timeout=120)
    assert not at.exception, at.exception
    assert "'decider' matters most" in page_texts(at)
    if any(toggle.key == "explain-mistakes" for toggle in at.toggle):  # only when the model made mistakes
        at.toggle(key="explain-mistakes").set_value(True).run(timeout=120)
        assert not at.exception, at.exception
        assert "Test example" in page_texts(at)


@pytest.mark.slow
def test_a_recommendation_names_the_users_own_rated_items(tmp_path, monkeypatch):
    from engine.data.samples import film_ratings
    from engine.explain.attributions import explain_inputs

    use_home(monkeypatch, tmp_path)
    frame = film_ratings(users=60, films=40)
    frame.to_csv(tmp_path / "films.csv", index=False)
    run = train(add_dataset(tmp_path / "films.csv", name="films"), {"name": "matrix_factorization", "factors": 8},
                epochs=4)
    user = "u0001"
    results = explain_inputs(trained(run), [user, "nobody"], top=3)
    known, unknown = results
    own = set(frame.loc[frame["user_id"] == user, "film"])
    assert len(known["recommendations"]) == 3 and known["because"]
    for recommended in known["recommendations"]:
        similarities = [b["similarity"] for b in recommended["because"]]
        assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1 for s in similarities)
        for behind in recommended["because"]:
            assert behind["item"] in own and 1 <= behind["rating"] <= 5
    assert known["because"][0]["item"] in known["sentence"]
    assert unknown["because"] == [] and "never saw this user" in unknown["sentence"]
    result = cli("explain", str(run["id"]), user, "--top", "3", "--json")  # as the Playground asks for it
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["recommendations"] == known["recommendations"]


@pytest.mark.slow
def test_the_pretrained_text_model_puts_the_deciding_word_first(runs, monkeypatch):
    """MiniLM reads word pieces: their credit is added back into whole words ('excellent', not 'excel', '##lent')."""
    from engine.explain.attributions import explain_inputs
    from engine.models.registry import MODELS

    if not MODELS["minilm"].available:
        pytest.skip(f"The pretrained text model is not installed: {MODELS['minilm'].install_command}")
    monkeypatch.setenv("TRAINYARD_HOME", str(runs["home"]))
    dataset = repo.get_dataset(runs["text"]["dataset_id"])
    run = train(dataset, {"name": "minilm"}, epochs=20, learning_rate=0.01)
    texts = ["my friend said this item was excellent for daily use", "the box came on time and it was awful"]
    for result, text, decider in zip(explain_inputs(trained(run), texts), texts, ("excellent", "awful")):
        assert result["method"].startswith("integrated gradients on the word pieces")
        assert [w["word"] for w in result["words"]] == text.split()
        assert result["pushes"][0]["name"] == decider, result["pushes"]
