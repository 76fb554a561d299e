"""Cleaning: each one-click fix makes a new version linked to its source, which is kept as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from db import repo
from engine.data.cleaning import clean_dataset
from engine.data.ingest import add_dataset, datasets_dir, load_table
from engine.data.samples import add_sample
from engine.errors import DataError


@pytest.fixture
def messy(home):
    return add_sample("messy_iris")


def test_every_offered_fix_applies_and_solves_its_problem(messy):
    for problem in messy["quality_report"]["problems"]:
        for action in problem["actions"]:
            cleaned = clean_dataset(messy, action)
            titles = [p["title"] for p in cleaned["quality_report"]["problems"]]
            assert problem["title"] not in titles, (action, titles)
            assert cleaned["parent_id"] == messy["id"]


def test_a_version_keeps_its_source_and_says_what_changed(messy):
    source_files = sorted(p.name for p in Path(messy["files_path"]).iterdir())
    cleaned = clean_dataset(messy, {"step": "drop_duplicates"})
    assert repo.get_dataset(messy["id"]) == messy
    assert sorted(p.name for p in Path(messy["files_path"]).iterdir()) == source_files
    assert len(load_table(messy)) == 158 and len(load_table(cleaned)) == 149
    report = cleaned["quality_report"]
    assert report["cleaning"]["changed"] == "9 duplicate rows dropped"
    assert (report["before"]["rows"], report["before"]["duplicates"]) == (158, 9)
    assert (report["rows"], report["duplicate_rows"]) == (149, 0)
    assert cleaned["name"] == "Iris flowers, messy – v2, duplicates dropped"
    again = clean_dataset(cleaned, {"step": "merge_labels"})
    assert again["name"] == "Iris flowers, messy – v3, label spellings merged"
    assert again["schema"]["history"] == ["duplicates dropped", "label spellings merged"]
    assert again["sha256"] != cleaned["sha256"] != messy["sha256"]


def test_fill_missing_by_median_mode_and_constant(home, tmp_path):
    frame = pd.DataFrame({"size": [1.0, 2.0, None, 4.0, 100.0] * 4, "shape": ["round", None, "round", "flat", "flat"] * 4,
                          "label": ["a", "b"] * 10})
    frame.loc[3, "shape"] = "round"  # round is the most common
    path = tmp_path / "things.csv"
    frame.to_csv(path, index=False)
    dataset = add_dataset(path)
    median = load_table(clean_dataset(dataset, {"step": "fill_missing", "column": "size", "method": "median"}))
    assert median["size"].isna().sum() == 0 and median.loc[2, "size"] == 3.0
    mode = load_table(clean_dataset(dataset, {"step": "fill_missing", "column": "shape", "method": "mode"}))
    assert mode.loc[1, "shape"] == "round"
    constant = load_table(clean_dataset(dataset, {"step": "fill_missing", "column": "shape", "method": "constant",
                                                  "value": "unknown"}))
    assert constant.loc[1, "shape"] == "unknown"
    dropped = clean_dataset(dataset, {"step": "drop_missing", "column": "size"})
    assert dropped["n_rows"] == 16
    with pytest.raises(DataError, match="holds words, which have no median"):
        clean_dataset(dataset, {"step": "fill_missing", "column": "shape", "method": "median"})
    with pytest.raises(DataError, match="write a number"):
        clean_dataset(dataset, {"step": "fill_missing", "column": "size", "method": "constant", "value": "big"})


def test_fill_missing_dates_by_median_and_by_a_date(home, tmp_path):
    path = tmp_path / "orders.csv"
    cells = ["" if i % 5 == 2 else f"2021-03-{1 + i:02d}" for i in range(20)]
    path.write_text("ordered,amount,label\n" + "".join(f"{cell},{i},{'ab'[i % 2]}\n" for i, cell in enumerate(cells)))
    dataset = add_dataset(path)
    problem = next(p for p in dataset["quality_report"]["problems"] if p["code"] == "missing")
    assert problem["effect"].startswith("Missing input dates are filled with the column's median.")
    assert problem["actions"][0]["method"] == "median"
    median = load_table(clean_dataset(dataset, problem["actions"][0]))
    assert median["ordered"].isna().sum() == 0 and median.loc[2, "ordered"] == pd.Timestamp("2021-03-10 12:00")
    constant = load_table(clean_dataset(dataset, {"step": "fill_missing", "column": "ordered", "method": "constant",
                                                  "value": "2021-12-24"}))
    assert constant.loc[2, "ordered"] == pd.Timestamp("2021-12-24")
    with pytest.raises(DataError, match="write a date to fill it with, such as 2016-07-02"):
        clean_dataset(dataset, {"step": "fill_missing", "column": "ordered", "method": "constant", "value": "soon"})


def test_drop_rare_classes_and_columns(home, tmp_path):
    frame = pd.DataFrame({"x": np.arange(60.0), "id": [f"r{i}" for i in range(60)],
                          "label": ["a"] * 30 + ["b"] * 27 + ["c"] * 3})
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    dataset = add_dataset(path)
    problems = {p["code"]: p for p in dataset["quality_report"]["problems"]}
    assert problems["rare_classes"]["actions"][0]["min_count"] == 5
    fewer = clean_dataset(dataset, problems["rare_classes"]["actions"][0])
    assert fewer["n_classes"] == 2 and fewer["n_rows"] == 57
    without = clean_dataset(dataset, problems["id_column"]["actions"][0])
    assert "id" not in load_table(without).columns
    with pytest.raises(DataError, match="is used by the data set"):
        clean_dataset(dataset, {"step": "drop_column", "column": "label"})


def test_a_fix_that_would_leave_nothing_to_learn_stores_nothing(home, tmp_path):
    frame = pd.DataFrame({"x": np.arange(40.0), "label": ["a"] * 36 + ["b"] * 4})
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    dataset = add_dataset(path)
    folders = sorted(datasets_dir().iterdir())
    with pytest.raises(DataError, match="only one class"):
        clean_dataset(dataset, {"step": "drop_rare_classes", "min_count": 5})
    with pytest.raises(DataError, match="Nothing to change"):
        clean_dataset(dataset, {"step": "drop_duplicates"})
    with pytest.raises(DataError, match="does not apply to tabular"):
        clean_dataset(dataset, {"step": "drop_unreadable"})
    with pytest.raises(DataError, match="is not a cleaning step"):
        clean_dataset(dataset, {"step": "format_disk"})
    assert sorted(datasets_dir().iterdir()) == folders
    assert len(repo.list_datasets()) == 1


def test_change_what_to_predict(home):
    wine = add_sample("wine")
    alcohol = clean_dataset(wine, {"step": "set_target", "target": "alcohol"})
    assert (alcohol["target"], alcohol["task"], alcohol["parent_id"]) == ("alcohol", "regression", wine["id"])
    assert alcohol["quality_report"]["detected"]["target_reason"] == "you chose it"
    assert "now predicts 'alcohol' (regression)" == alcohol["quality_report"]["cleaning"]["changed"]


def test_every_fix_is_one_entry_whose_settings_the_command_line_offers():
    from engine.cli import parser
    from engine.data.fixes import FIXES, IMAGE_STEPS, STEP_SETTINGS, TABLE_STEPS

    assert TABLE_STEPS | IMAGE_STEPS == set(FIXES)
    assert {"drop_duplicates", "merge_labels", "drop_rare_classes"} <= TABLE_STEPS & IMAGE_STEPS
    args = parser().parse_args(["datasets", "clean", "shop", "fill_missing"])
    assert all(hasattr(args, setting) for setting in STEP_SETTINGS), STEP_SETTINGS
