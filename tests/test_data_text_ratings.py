"""Text classification and ratings tables: detection, reports, preparation and prediction inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.data.cleaning import clean_dataset
from engine.data.ingest import add_dataset, inspect_table
from engine.data.prepare import prepare_dataset
from engine.data.samples import film_ratings, product_reviews
from engine.data.tables import read_table
from engine.data.text import choose_max_length, encode_texts, fit_vocabulary, tokens
from engine.data.transform import candidate_pairs, decode_ratings, known_user, transform_inputs
from engine.errors import DataError
from tests.conftest import cli


def test_words_vocabulary_and_token_ids():
    assert tokens("Don't STOP — it's 42°C, ok?") == ["don't", "stop", "it's", "42", "c", "ok"]
    vocabulary = fit_vocabulary(["the cat sat", "the dog sat", "a bird"])
    assert vocabulary[:2] == ["sat", "the"]  # most frequent first, then alphabetical
    ids = encode_texts(["the cat", "a zebra sat on the mat", None], vocabulary, 4)
    lookup = {w: i + 2 for i, w in enumerate(vocabulary)}
    assert ids.dtype == np.int64 and ids.shape == (3, 4)
    assert ids[0].tolist() == [lookup["the"], lookup["cat"], 0, 0]
    assert ids[1].tolist() == [lookup["a"], 1, lookup["sat"], 1]  # unknown words are 1, cut at 4
    assert ids[2].tolist() == [0, 0, 0, 0]
    assert choose_max_length(np.array([3] * 95 + [900] * 5)) == 8
    assert choose_max_length(np.array([1000] * 10)) == 256


def test_a_text_table_is_detected_with_its_columns(tmp_path):
    frame = product_reviews(300).assign(id=range(300))
    found = inspect_table(frame)
    assert (found["kind"], found["text_column"], found["target"]) == ("text", "review", "sentiment")
    assert "holds sentences" in found["kind_reason"]
    assert inspect_table(frame, kind="tabular")["kind"] == "tabular"
    # stevedata's turnip prices: a date, a time of day ("5:00 a.m.", four words to a tokenizer) and the price. A few
    # phrases said again and again are categories, not texts to read.
    rng = np.random.default_rng(0)
    prices = pd.DataFrame({"date": pd.date_range("2021-04-11", periods=300).repeat(2)[:300],
                           "time": rng.choice(["5:00 a.m.", "8:00 a.m.", "12:00 p.m."], 300),
                           "price": rng.integers(60, 180, 300).astype(float)})
    found = inspect_table(prices)
    assert (found["kind"], found["target"], found["task"]) == ("tabular", "price", "regression")


def test_text_report_and_preparation(home, tmp_path):
    frame = product_reviews(400)
    frame.loc[:4, "review"] = ["", None, "   ", "!!!", "ok"]
    frame.loc[10, "sentiment"] = "Positive"
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    dataset = add_dataset(path)
    report = dataset["quality_report"]
    assert dataset["kind"] == "text" and dataset["schema"]["text_column"] == "review"
    assert report["empty_texts"] == 4
    assert {"empty_texts", "label_spellings"} <= {p["code"] for p in report["problems"]}
    assert report["words"]["max"] >= report["words"]["median"] > 5
    cleaned = clean_dataset(clean_dataset(dataset, {"step": "drop_empty_texts"}), {"step": "merge_labels"})
    assert cleaned["n_rows"] == 396 and cleaned["n_classes"] == 2
    data = prepare_dataset(cleaned, 0.15, 0.15, seed=0)
    prep = data.preprocessing
    assert data.spec == {"kind": "text", "task": "classification", "vocab_size": len(prep["vocabulary"]) + 2,
                         "max_length": prep["max_length"], "n_outputs": 2}
    x, y = data.arrays["train"]
    assert x.dtype == np.int64 and x.shape[1] == prep["max_length"] and y.dtype == np.int64
    assert x.max() < data.spec["vocab_size"] and x.min() >= 0
    raw = pd.DataFrame({"review": ["The kettle works perfectly. I love it.", "Zyzzyva qwerty"]})
    ids = transform_inputs(prep, raw)
    assert ids.shape == (2, prep["max_length"]) and (ids[0] > 1).sum() >= 5
    assert ids[1][:2].tolist() == [1, 1]
    assert np.array_equal(transform_inputs(prep, ["The kettle works perfectly. I love it."]), ids[:1])


def test_a_ratings_table_is_detected_and_reported(home, tmp_path):
    frame = film_ratings(120, 60)
    frame = pd.concat([frame, frame.iloc[:3].assign(rating=lambda f: 6 - f["rating"])], ignore_index=True)
    path = tmp_path / "films.csv"
    frame.to_csv(path, index=False)
    dataset = add_dataset(path)
    report = dataset["quality_report"]
    assert (dataset["kind"], dataset["task"], dataset["target"]) == ("ratings", "rating", "rating")
    assert dataset["schema"]["roles"] == {"user": "user_id", "item": "film", "rating": "rating",
                                          "timestamp": "timestamp"}
    assert report["users"] == 120 and report["items"] <= 60
    assert 0 < report["density"] < 1 and report["sparsity"] == pytest.approx(1 - report["density"])
    assert set(report["rating_distribution"]) <= {"1", "2", "3", "4", "5"}
    assert report["conflicting_duplicates"] >= 1
    last = clean_dataset(dataset, {"step": "keep_last_rating"})
    assert last["quality_report"]["conflicting_duplicates"] == 0
    assert last["n_rows"] == dataset["n_rows"] - 3


def test_ratings_are_told_by_whole_words_of_the_names_and_never_by_a_column_of_words_to_predict():
    """A table of colleges has 'Personal' spending, 'Books' costs and a 'Grad.Rate': a table, not ratings. Names of
    other forms still find the roles, and a column of words to predict rules ratings out."""
    from engine.data.ratings import find_rating_columns

    colleges = pd.DataFrame({"Private": ["Yes", "No"] * 30, "Apps": range(60), "Personal": [2200, 1500] * 30,
                             "Books": [450, 600] * 30, "Grad.Rate": [60, 70] * 30})
    assert inspect_table(colleges, target="Private")["kind"] == "tabular"
    assert inspect_table(colleges)["kind"] == "tabular"
    assert find_rating_columns(colleges)["user"] is None
    for user, item, rating in (("username", "bookISBN", "stars"), ("reviewerID", "movieTitle", "star rating"),
                               ("Customer Name", "product_code", "Rating")):
        frame = pd.DataFrame({user: ["a", "b", "c"] * 4, item: ["x", "y"] * 6, rating: [1, 2, 3, 4, 5, 4] * 2})
        assert find_rating_columns(frame) | {"timestamp": None} == {"user": user, "item": item, "rating": rating,
                                                                   "timestamp": None}
        assert inspect_table(frame)["kind"] == "ratings"
    sales = pd.DataFrame({"customer_id": ["a", "b"] * 5, "product_id": ["x", "y"] * 5, "interest_rate": [0.1] * 10,
                          "returned": ["yes", "no"] * 5})
    assert inspect_table(sales)["kind"] == "tabular"  # 'interest_rate' is no rating
    voted = pd.DataFrame({"user": ["a", "b"] * 5, "item": ["x", "y"] * 5, "rating": [1, 2] * 5,
                          "liked": ["yes", "no"] * 5})
    assert inspect_table(voted, target="liked")["kind"] == "tabular"


def test_a_file_of_ratings_with_no_header_row_is_told_by_its_cells(home, tmp_path):
    """MovieLens' u.data has no header: user id, film id, rating, time, parted by tabs. Its cells tell it, and the
    command line says so; a panel of figures for each place and year, with ids just as plain, stays a table."""
    films = film_ratings(120, 60)
    films = films.assign(user_id=films["user_id"].str[1:].astype(int), film=films["film"].factorize()[0] + 1)
    path = tmp_path / "u.tsv"
    films.to_csv(path, sep="\t", header=False, index=False)
    added = cli("datasets", "add", str(path), "--json")
    assert added.returncode == 0, added.stderr
    detected = json.loads(added.stdout)["detected"]
    assert detected["kind"] == "ratings" and detected["roles"] == {
        "user": "column 1", "item": "column 2", "rating": "column 3", "timestamp": "column 4"}
    assert detected["target_reason"] == "'column 3' holds a few marks from 1 to 5, as ratings do"
    said = cli("datasets", "add", str(path)).stdout
    assert ("Read as ratings because its cells look like ratings: ids that come back again and again ('column 1' "
            "users, 'column 2' items), then a few marks from 1 to 5 ('column 3'), then times ('column 4')." in said)
    assert "add the file again with --user-column, --item-column or --target NAME" in said
    panel = pd.DataFrame([(place, year, (place * year) % 7 + 1) for place in range(40) for year in range(1990, 2020)])
    panel.to_csv(path, sep="\t", header=False, index=False)
    assert inspect_table(read_table(path))["kind"] == "tabular"  # every place in every year: a panel, not ratings
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.integers(0, [100, 100, 3], (1000, 3))).to_csv(path, sep="\t", header=False, index=False)
    assert inspect_table(read_table(path))["kind"] == "tabular"  # small numbers drawn at random, no ratings either


def test_ratings_preparation_and_prediction_inputs(home, tmp_path):
    path = tmp_path / "films.csv"
    film_ratings(150, 80).to_csv(path, index=False)
    dataset = add_dataset(path, kind="ratings")
    data = prepare_dataset(dataset, 0.1, 0.1, seed=3)
    prep = data.preprocessing
    assert data.spec == {"kind": "ratings", "task": "rating", "n_users": len(prep["users"]),
                         "n_items": len(prep["items"]), "n_outputs": 1, "user_counts": prep["user_counts"],
                         "item_counts": prep["item_counts"]}
    x, y = data.arrays["train"]
    # Ratings per known user and item, in the order of their indices 1, 2, …
    assert prep["user_counts"] == np.bincount(x[:, 0], minlength=len(prep["users"]) + 1)[1:].tolist()
    assert prep["item_counts"] == np.bincount(x[:, 1], minlength=len(prep["items"]) + 1)[1:].tolist()
    assert x.dtype == np.int64 and x.shape[1] == 2 and x.min() >= 1  # every training id is known
    assert y.dtype == np.float32 and abs(float(y.mean())) < 1e-5 and abs(float(y.std()) - 1) < 1e-3
    assert x[:, 0].max() == len(prep["users"]) and x[:, 1].max() <= len(prep["items"])
    pairs = transform_inputs(prep, pd.DataFrame({"user_id": ["u0001", "nobody"], "film": [prep["items"][0], "?"]}))
    assert pairs.tolist() == [[prep["users"].index("u0001") + 1, 1], [0, 0]]
    everything, items = candidate_pairs(prep, "u0001")
    assert everything.shape == (len(prep["items"]), 2) and items == prep["items"]
    assert known_user(prep, "u0001") and not known_user(prep, "nobody")
    assert decode_ratings(prep, np.array([0.0, 100.0])).tolist() == [pytest.approx(prep["target_mean"]),
                                                                    prep["rating_max"]]


def test_ratings_columns_can_be_chosen_and_bad_ones_refused(home, tmp_path):
    frame = pd.DataFrame({"who": [f"p{i % 7}" for i in range(50)], "what": [f"b{i % 11}" for i in range(50)],
                          "stars": [1 + i % 5 for i in range(50)]})
    path = tmp_path / "books.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="Choose the column that holds the user"):
        add_dataset(path, kind="ratings")
    dataset = add_dataset(path, kind="ratings", roles={"user": "who", "item": "what", "rating": "stars"})
    assert dataset["schema"]["roles"]["user"] == "who"
    # Columns given for the roles make a ratings set without naming the kind, and are checked as one: a column of
    # words as the rating is refused rather than read as a table that predicts it.
    named = add_dataset(path, roles={"user": "who", "item": "what"}, target="stars")
    assert named["kind"] == "ratings" and named["target"] == "stars"
    assert named["quality_report"]["detected"]["kind_reason"] == "you chose its columns of users, items and ratings"
    with pytest.raises(DataError, match="must hold numbers"):
        add_dataset(path, roles={"user": "who", "item": "stars"}, target="what")
    flat = frame.assign(stars=4)
    flat.to_csv(path, index=False)
    with pytest.raises(DataError, match="Every rating in 'stars' is the same"):
        add_dataset(path, kind="ratings", roles={"user": "who", "item": "what", "rating": "stars"})


def test_a_column_of_item_names_names_the_recommendations():
    """Ratings whose items are numbers, with a title per item: recommendations, the command line's text and the
    quality report show the titles; a column that varies within an item (a user's nickname) is not taken."""
    from engine.data.ratings import find_rating_columns, fit_ratings, ratings_quality_report
    from engine.cli.serving import _prediction_text
    from engine.serving.runtime import Predictor

    titles = {101: "Blue Harbour", 102: "Silent River", 103: "Paper Moon"}
    rows = [(f"u{u}", item, 1 + (u + item) % 5, f"nick{u}{item % 2}") for u in range(6) for item in titles]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "user_name"])
    frame["title"] = frame["movie_id"].map(titles)
    roles = find_rating_columns(frame)
    prep = fit_ratings(frame, roles)
    assert prep["item_name_column"] == "title"
    assert dict(zip(prep["items"], prep["item_names"])) == {"101": "Blue Harbour", "102": "Silent River",
                                                            "103": "Paper Moon"}
    report = ratings_quality_report(frame, roles)
    assert report["item_name_column"] == "title" and any(p["code"] == "item_names" for p in report["problems"])

    def scores(pairs: np.ndarray) -> np.ndarray:
        return 0.1 * pairs[:, 1:2].astype(np.float32)  # later items are liked more (within the 1-5 scale)

    answer = Predictor(prep, scores, "test").predict(["u1"], ["u1"], top=2)[0]
    assert answer["top_items"][0] | {"predicted_rating": 0} == {"item": "103", "name": "Paper Moon",
                                                               "predicted_rating": 0}
    assert _prediction_text([answer]).startswith("u1: Paper Moon (103) (")

    nameless = fit_ratings(frame.drop(columns="title"), roles)
    assert "item_names" not in nameless  # 'user_name' differs within each film: not the films' names


def test_a_text_report_names_its_encoding_lists_no_problem_in_unread_columns_and_fixes_conflicts(tmp_path, home):
    """A Latin-1 file of short posts with a 'confidence' column full of gaps and a few posts labelled two ways:
    the encoding is named, 'confidence' (which the text model never reads) raises no problem, and one click drops
    the conflicting posts."""
    from engine.data.ingest import load_table

    posts = [f"Post number {i} about the café and the crème brûlée" for i in range(120)]
    labels = ["good" if i % 2 else "bad" for i in range(120)]
    frame = pd.DataFrame({"text": posts + posts[:3], "sentiment": labels + ["good", "bad", "bad"],
                          "confidence": [None if i % 3 else 0.5 for i in range(123)]})
    path = tmp_path / "posts.csv"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    dataset = add_dataset(path, name="posts", kind="text", target="sentiment")
    report = dataset["quality_report"]
    assert "Latin-1" in report["detected"]["encoding_reason"] or "cp1252" in report["detected"]["encoding_reason"]
    assert not [p for p in report["problems"] if "confidence" in p["title"] and p["code"] != "unused_column"]
    conflict = next(p for p in report["problems"] if p["code"] == "conflicting_labels")
    assert conflict["title"].startswith("2 texts appear with different answers")
    assert [a["step"] for a in conflict["actions"]] == ["drop_conflicts"]

    cleaned = clean_dataset(dataset, conflict["actions"][0])
    kept = load_table(cleaned)
    assert len(kept) == 123 - 4  # both rows of each of the 2 conflicting posts go; the third repeat agrees
    assert not [p for p in cleaned["quality_report"]["problems"] if p["code"] == "conflicting_labels"]
    assert "café" in kept["text"].iloc[0]
