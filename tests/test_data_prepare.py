"""Preparation: seeded, stratified splits and k folds; preprocessing fitted on train; the tensor cache."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from engine.data import ingest
from engine.data.ingest import add_dataset
from engine.data.prepare import prepare_dataset
from engine.data.splits import fold_splits, split_indices
from engine.data.samples import add_sample
from engine.data.transform import decode_numbers, transform_inputs
from engine.errors import DataError
from tests.conftest import make_table


def labels(counts: dict[str, int]) -> pd.Series:
    return pd.Series([label for label, n in counts.items() for _ in range(n)]).sample(frac=1, random_state=0)


def test_splits_are_seeded_stratified_and_disjoint():
    y = labels({"a": 500, "b": 100, "c": 20})
    first = split_indices(y, len(y), 0.2, 0.2, seed=4)
    assert all(np.array_equal(first[k], split_indices(y, len(y), 0.2, 0.2, seed=4)[k]) for k in first)
    other = split_indices(y, len(y), 0.2, 0.2, seed=5)
    assert not np.array_equal(first["test"], other["test"])
    joined = np.concatenate(list(first.values()))
    assert sorted(joined) == list(range(len(y)))
    for split, share in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        counts = y.iloc[first[split]].value_counts()
        assert counts["c"] == pytest.approx(20 * share, abs=1), split  # each split keeps the class balance
        assert counts["a"] == pytest.approx(500 * share, abs=1), split


def test_a_class_with_one_example_does_not_break_the_split():
    y = labels({"a": 40, "b": 40, "lonely": 1, "pair": 2})
    splits = split_indices(y, len(y), 0.15, 0.15, seed=0)
    assert sum(len(v) for v in splits.values()) == len(y)


def test_k_folds_share_one_test_split_and_cover_the_rest_once():
    y = labels({"a": 90, "b": 60})
    folds = fold_splits(y, len(y), 5, 0.2, seed=1)
    tests = {tuple(f["test"]) for f in folds}
    assert len(tests) == 1
    validation = np.concatenate([f["validation"] for f in folds])
    assert sorted(validation) == sorted(set(range(len(y))) - set(folds[0]["test"]))
    for fold in folds:
        assert not set(fold["train"]) & set(fold["validation"])
        assert y.iloc[fold["validation"]].value_counts()["b"] == pytest.approx(24 / 5 * 2, abs=2)
    with pytest.raises(DataError, match="between 2 and 20 folds"):
        split_indices(y, len(y), 0.2, 0.2, 0, folds=1)


def test_a_number_is_read_in_more_ranges_when_there_are_rows_to_learn_them_from():
    from engine.models.zoo.mlp import RANGE_INPUTS, number_ranges

    assert number_ranges(5, 26_000) == number_ranges(64, 26_000) == 64
    assert number_ranges(5, 1_000) == 25 and number_ranges(5, 300) == 16  # never fewer than 16
    assert number_ranges(100, 26_000) == 40 and 100 * number_ranges(100, 26_000) <= RANGE_INPUTS
    assert number_ranges(1000, 26_000) == 16


def test_table_preprocessing_is_fitted_on_train_and_saved_for_prediction(home, tmp_path):
    path = tmp_path / "t.csv"
    make_table(300).to_csv(path, index=False)
    dataset = add_dataset(path)
    data = prepare_dataset(dataset, 0.2, 0.2, seed=0)
    prep = data.preprocessing
    x, y = data.arrays["train"]
    spec = data.spec
    edges, counts = spec.pop("number_edges"), spec.pop("category_counts")
    assert spec == {"kind": "tabular", "task": "classification", "n_features": 6, "n_outputs": 2}
    assert len(counts) == 1 and sum(counts[0]) == len(x)  # training rows of each category, most common first
    assert len(edges) == 2 and all(e == sorted(e) and 2 <= len(e) <= 17 for e in edges)  # quantiles per number
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.allclose(x[:, :2].mean(axis=0), 0, atol=1e-5)  # scaled with the training rows' figures
    assert sorted(prep["categorical"][0]["categories"]) == ["blue", "green", "red"]
    buffer = io.BytesIO()
    torch.save({"preprocessing": prep, "spec": data.spec}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert loaded["preprocessing"] == prep
    rows = pd.DataFrame({"x1": [0.5, None], "x2": [1.0, 2.0], "colour": ["red", "purple"]})
    features = transform_inputs(loaded["preprocessing"], rows)
    assert features.shape == (2, 6)
    assert features[1, -1] == 1.0  # an unseen colour lands in the 'other' slot
    assert features[1, 0] == pytest.approx((prep["numeric"][0]["median"] - prep["numeric"][0]["mean"])
                                           / prep["numeric"][0]["std"])


def test_long_tailed_numbers_are_scaled_by_their_logarithm(home, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"jobs": np.round(rng.lognormal(3, 1.5, 400)), "hour": rng.uniform(0, 24, 400),
                          "label": rng.choice(["a", "b"], 400)})
    path = tmp_path / "jobs.csv"
    frame.to_csv(path, index=False)
    data = prepare_dataset(add_dataset(path, target="label"), 0.2, 0.2, seed=0)
    jobs, hour = data.preprocessing["numeric"]
    assert jobs["log"] and not hour["log"]
    x = data.arrays["train"][0][:, 0]
    assert abs(float(x.mean())) < 1e-4 and x.max() < 4  # no value pressed far from the rest
    row = pd.DataFrame({"jobs": [1000.0], "hour": [12.0]})
    assert transform_inputs(data.preprocessing, row)[0, 0] == pytest.approx(
        (np.log1p(1000.0) - jobs["mean"]) / jobs["std"], rel=1e-5)
    from engine.training.examples import _describe_row

    # A row read back from its features (the Evaluate page's examples) shows the number, not its logarithm.
    assert _describe_row(data.preprocessing, transform_inputs(data.preprocessing, row)[0]) == pytest.approx(
        {"jobs": 1000.0, "hour": 12.0}, rel=1e-4)


def test_a_column_that_differs_in_too_few_training_rows_is_not_read(home, tmp_path):
    from engine.data.columns import rarely_different
    from engine.models.zoo.mlp import FEWEST_DIFFERENT_ROWS

    assert FEWEST_DIFFERENT_ROWS == 5
    zeros = [0] * 200
    assert rarely_different(pd.Series([1, 2, 3, 4] + zeros), 5)  # the other values first: the head alone can't tell
    assert not rarely_different(pd.Series([1, 2, 3, 4, 5] + zeros), 5)
    assert not rarely_different(pd.Series(zeros + [1, 1, 1, 1, 1]), 5)
    assert rarely_different(pd.Series([None] * 3 + ["a"] * 50), 5)  # an empty cell counts as a value
    assert rarely_different(pd.Series([], dtype=float), 5)

    frame = make_table(300)
    frame["flag"] = 0  # yes in two rows of 300: too few to learn from, whatever the split
    frame.loc[[3, 150], "flag"] = 1
    frame["sometimes"] = (np.arange(300) % 10 == 0).astype(int)  # 30 rows
    frame["source"] = "web"
    path = tmp_path / "flags.csv"
    frame.to_csv(path, index=False)
    data = prepare_dataset(add_dataset(path), 0.2, 0.2, seed=0)
    assert [c["name"] for c in data.preprocessing["numeric"]] == ["x1", "x2", "sometimes"]
    assert data.spec["n_features"] == 3 + 4

    frame = pd.DataFrame({"rare": [1] * 3 + [0] * 97, "label": ["a", "b"] * 50})
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="same value in all but 4 training rows or fewer"):
        prepare_dataset(add_dataset(path, target="label"), 0.2, 0.2, seed=0)


def test_a_number_column_with_empty_training_cells_gets_an_input_saying_which_rows_lack_it(home, tmp_path):
    from engine.data.prepare_tables import column_inputs, transform_records
    from engine.training.examples import _describe_row

    frame = make_table(300)
    frame.loc[::10, "x1"] = None  # 30 empty cells: x1 gets a yes/no input of its own
    frame.loc[[5, 6], "x2"] = None  # too few to learn what a gap means from: read as the median only
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    data = prepare_dataset(add_dataset(path), 0.2, 0.2, seed=0)
    prep = data.preprocessing
    assert [bool(c.get("missing_input")) for c in prep["numeric"]] == [True, False]
    assert prep["n_features"] == data.spec["n_features"] == 2 + 4 + 1
    assert column_inputs(prep) == [("x1", [0, 6]), ("x2", [1]), ("colour", [2, 3, 4, 5])]
    x = data.arrays["train"][0]
    assert set(np.unique(x[:, 6])) == {0.0, 1.0} and x[:, 6].sum() == pytest.approx(0.1 * len(x), abs=6)

    rows = pd.DataFrame({"x1": [0.5, None, "not a number"], "x2": [1.0, 2.0, 3.0], "colour": ["red", "blue", "red"]})
    features = transform_inputs(prep, rows)
    assert features[:, 6].tolist() == [0.0, 1.0, 1.0]  # empty, or not a number: read as the median, and said so
    assert features[1, 0] == features[2, 0] == pytest.approx((prep["numeric"][0]["median"] - prep["numeric"][0]["mean"])
                                                             / prep["numeric"][0]["std"])
    records = [{"x1": 0.5, "x2": 1.0, "colour": "red"}, {"x1": None, "x2": 2.0, "colour": "blue"},
               {"x1": float("nan"), "x2": 3.0, "colour": "red"}]
    assert np.array_equal(transform_records(records, prep), features)  # the model service's path agrees
    assert _describe_row(prep, features[1]) == pytest.approx({"x1": None, "x2": 2.0, "colour": "blue"})
    assert _describe_row(prep, features[0])["x1"] == pytest.approx(0.5, rel=1e-5)


def test_a_date_column_is_read_as_its_moment_month_day_of_the_week_and_day(home, tmp_path):
    from engine.data.prepare_tables import column_inputs, date_parts, date_text, input_columns, transform_records
    from engine.training.examples import _describe_row
    from tests.trained import table_dataset

    data = prepare_dataset(table_dataset(tmp_path, dates=True), 0.2, 0.2, seed=0)
    prep = data.preprocessing
    dates = [c for c in prep["numeric"] if c["name"] == "sold"]
    assert [c["date_part"] for c in dates] == ["days", "month", "weekday", "day", "yearday"]  # no time: no hour
    assert [bool(c.get("missing_input")) for c in dates] == [True, False, False, False, False]  # 30 empty: told once
    assert column_inputs(prep)[0] == ("sold", [0, 1, 2, 3, 4, 11])
    assert prep["n_features"] == data.spec["n_features"] == 5 + 2 + 4 + 1
    assert len(data.spec["number_edges"]) == 7  # a date's parts are read by range too
    assert input_columns(prep)[0] == ("sold", "date", date_text(dates[0]["median"]))
    assert input_columns(prep)[0][2].startswith(("2021-", "2022-"))  # the typical date, as written

    rows = pd.DataFrame({"sold": ["2022-03-04", None, "not a date"], "x1": [0.5, 1.0, 2.0], "x2": [1.0, 2.0, 3.0],
                         "colour": ["red", "blue", "red"]})
    features = transform_inputs(prep, rows)
    assert features[:, 11].tolist() == [0.0, 1.0, 1.0]  # empty, or not a date: said so
    parts = date_parts(pd.Series(["2022-03-04"]))
    assert parts.iloc[0].tolist() == [19055.0, 3.0, 4.0, 4.0, 63.0, 0.0]  # since 1970, March, a Friday, the 4th
    assert features[0, 2] == pytest.approx((4.0 - dates[2]["mean"]) / dates[2]["std"])
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    assert np.array_equal(transform_records(records, prep), features)  # the model service's path agrees
    assert _describe_row(prep, features[0])["sold"] == "2022-03-04"
    assert _describe_row(prep, features[1])["sold"] is None



def test_a_column_of_sentences_in_a_table_is_read_by_the_words_it_holds(home, tmp_path):
    """A table's column of sentences is read by its common words, the same way by every path a row takes, and the
    report says so instead of calling it an identifier or too many categories."""
    from engine.data.prepare_tables import column_inputs, input_columns, transform_records
    from engine.serving.readme import TABLE_ENCODER
    from engine.training.examples import _describe_row
    from tests.trained import NOTE_WORDS, table_dataset

    dataset = table_dataset(tmp_path, notes=True)
    report = dataset["quality_report"]
    assert dataset["kind"] == "tabular" and report["types"]["note"] == "text"
    said = [p["code"] for p in report["problems"] if "'note'" in p["title"] and p["code"] != "missing"]
    assert said == ["text_column"]
    assert "note" not in report.get("category_values", {})
    gaps = next(p for p in report["problems"] if p["code"] == "missing" and "'note'" in p["title"])
    assert "none of the words" in gaps["effect"]  # not a value of its own, and no most common text to fill in
    assert [a["step"] for a in gaps["actions"]] == ["drop_missing"]

    data = prepare_dataset(dataset, 0.2, 0.2, seed=0)
    prep = data.preprocessing
    words = prep["texts"][0]["words"]
    assert prep["texts"][0]["name"] == "note" and [c["name"] for c in prep["categorical"]] == ["colour"]
    assert {"calm", "urgent", "order", "parcel"} <= set(words)
    assert not any(word.isdigit() for word in words)  # a row's own number is in one row: not a word it reads
    layout = dict(column_inputs(prep))
    assert len(layout["note"]) == len(words)
    assert prep["n_features"] == data.spec["n_features"] == 2 + 4 + len(words)
    assert input_columns(prep)[-1] == ("note", "text", "")

    rows = pd.DataFrame({"x1": [0.1, 0.2, 0.3], "x2": [1.0, 2.0, 0.5], "colour": ["red", "blue", "pink"],
                         "note": ["An URGENT parcel!", None, "nothing it knows"]})
    features = transform_inputs(prep, rows)
    urgent = layout["note"][words.index(NOTE_WORDS[1])]
    assert features[:, urgent].tolist() == [1.0, 0.0, 0.0]  # read whatever its case
    assert features[1:, layout["note"]].sum() == 0  # no text, or none of its words: no input set
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    assert np.array_equal(transform_records(records, prep), features)  # the model service's path agrees
    encoder = {"np": np, "json": json, "prep": prep}  # the exported bundle's own encoder agrees
    exec(TABLE_ENCODER.split("```python")[1].split("x = encode")[0].replace(
        'prep = json.load(open("preprocessing.json"))', ""), encoder)
    assert np.array_equal(encoder["encode"](records), features)
    assert _describe_row(prep, features[0])["note"].split() == sorted(["urgent", "parcel"], key=words.index)


def test_a_large_table_reads_fewer_words_of_its_sentences(monkeypatch):
    from engine.data import prepare_tables

    texts = pd.Series([f"the parcel came {'late' if i % 2 else 'early'} on day {i % 6}" for i in range(60)])
    assert prepare_tables.common_words(texts)[:3] == ["came", "day", "on"]  # in every text, then alphabetically
    assert len(prepare_tables.common_words(texts)) == 13  # 'late', 'early' and the days 0-5 count too
    monkeypatch.setattr(prepare_tables, "WORD_INPUTS", 60 * 4)  # four inputs a row at most
    assert prepare_tables.common_words(texts) == ["came", "day", "on", "parcel"]

@pytest.mark.slow
def test_regression_targets_are_standardised(home):
    dataset = add_sample("diabetes")
    data = prepare_dataset(dataset, 0.15, 0.15, seed=0)
    y = data.arrays["train"][1]
    assert y.dtype == np.float32 and abs(float(y.mean())) < 1e-5
    train_rows = split_indices(None, 442, 0.15, 0.15, 0)["train"]
    original = ingest.load_table(dataset)["progression"].to_numpy()[train_rows]
    assert decode_numbers(data.preprocessing, y) == pytest.approx(original, rel=1e-5)


def test_the_tensor_cache_is_written_once_and_reused(home, table_csv, monkeypatch):
    dataset = add_dataset(table_csv)
    first = prepare_dataset(dataset, 0.2, 0.2, seed=0)
    caches = list((Path(dataset["files_path"]) / "cache").iterdir())
    assert len(caches) == 1 and (caches[0] / "train_x.npy").exists()
    json.loads((caches[0] / "preprocessing.json").read_text())

    def no_reading(_dataset):
        raise AssertionError("the table was read again")

    monkeypatch.setattr(ingest, "load_table", no_reading)
    second = prepare_dataset(dataset, 0.2, 0.2, seed=0)
    assert second.preprocessing == first.preprocessing
    for split in ("train", "validation", "test"):
        assert np.array_equal(first.arrays[split][0], second.arrays[split][0])
    monkeypatch.undo()
    prepare_dataset(dataset, 0.2, 0.2, seed=1)
    prepare_dataset(dataset, 0.2, 0.2, seed=0, folds=4, fold=2)
    assert len(list((Path(dataset["files_path"]) / "cache").iterdir())) == 3


@pytest.mark.slow
def test_every_sample_kind_prepares_to_the_contract(home):
    for key, kind in (("digits", "image"), ("reviews", "text"), ("films", "ratings"), ("iris", "tabular")):
        dataset = add_sample(key)
        assert dataset["kind"] == kind, key  # found by detection, as a user's file would be
        data = prepare_dataset(dataset, 0.15, 0.15, seed=0, folds=3, fold=1)
        assert data.preprocessing["kind"] == kind and data.preprocessing["split"]["folds"] == 3
        json.dumps(data.preprocessing)
        for split in ("train", "validation", "test"):
            x, y = data.arrays[split]
            assert len(x) == len(y) > 0
            assert y.dtype == (np.float32 if kind == "ratings" else np.int64)
