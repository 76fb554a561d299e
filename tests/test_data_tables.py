"""Tables: every delimiter, encoding and format; detection of kind, target and task with reasons; the report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from db import repo
from engine.data.ingest import add_dataset, inspect_table, load_table
from engine.data.table_report import quality_report
from engine.data.samples import sample_frame
from engine.data.tables import read_table
from engine.errors import DataError
from tests.conftest import cli, make_table

WORDS = pd.DataFrame({
    "city": ["Zürich", "São Paulo", "Kraków", "Montréal", "Malmö"] * 4,
    "price": [1.5, 2.25, 3.0, 4.75, 5.5] * 4,
    "label": ["ja", "não", "tak", "oui", "nej"] * 4,
})


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_csv_in_any_common_separator_and_encoding(tmp_path, separator, encoding):
    path = tmp_path / "prices.csv"
    if encoding in ("cp1252", "latin-1"):
        frame = WORDS.assign(city=WORDS["city"].str.replace("ó", "o").str.replace("ã", "a"))  # both code pages
    else:
        frame = WORDS
    frame.to_csv(path, sep=separator, index=False, encoding=encoding)
    read = read_table(path)
    assert list(read.columns) == ["city", "price", "label"]
    assert read["city"].tolist() == frame["city"].tolist()
    assert read["price"].dtype.kind == "f"


def test_a_windows_character_far_down_the_file_is_read(tmp_path):
    path = tmp_path / "late.csv"
    lines = ["name,value,label"] + [f"row{i},{i},a" for i in range(20000)] + ["Café – €5,1,b"]
    path.write_bytes("\n".join(lines).encode("cp1252"))
    frame = read_table(path)
    assert frame["name"].iloc[-1] == "Café – €5"


def test_a_csv_too_large_for_the_free_memory_is_read_from_start_to_end_alike(tmp_path, monkeypatch):
    import engine.data.tables as tables

    path = tmp_path / "large.csv"  # over 5 MB, which pandas reads in pieces side by side
    rows = np.arange(200_000)
    pd.DataFrame({"a": rows * 0.5, "b": rows % 7, "note": np.where(rows % 3, "yes", None),
                  "text": [f"row {i}, quoted" for i in rows]}).to_csv(path, index=False)
    assert path.stat().st_size > 5 << 20
    in_pieces = read_table(path)
    reads, read_csv = [], pd.read_csv
    monkeypatch.setattr(tables, "free_memory", lambda: 2 * tables.PIECES_PEAK * path.stat().st_size)
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: reads.append(pd.get_option("mode.max_threads"))
                        or read_csv(*a, **k))
    in_one = read_table(path)
    assert reads[-1] == 1
    pd.testing.assert_frame_equal(in_pieces, in_one)


def test_tsv_excel_and_parquet(tmp_path):
    frame = make_table(30)
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    frame.to_excel(tmp_path / "t.xlsx", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    for name in ("t.tsv", "t.xlsx", "t.parquet"):
        read = read_table(tmp_path / name)
        assert read.shape == frame.shape, name
        assert np.allclose(read["x1"], frame["x1"])


def test_notes_above_a_table_are_passed_over(tmp_path):
    """Exports and published tables often start with a title, a source or lines of '#' notes above the header."""
    rows = "".join(f"{i},{i % 7},{'north' if i % 2 else 'south'},{i * 1.5}\n" for i in range(40))
    titled = tmp_path / "shops.csv"
    titled.write_text("Table 3: Shops by region, 2024\nSource: the statistics office\n\nsize,staff,region,sales\n"
                      + rows)
    commented = tmp_path / "export.csv"
    commented.write_text("# Exported from the shop system\n# 2024-05-01\nsize,staff,region,sales\n" + rows)
    for path, line in ((titled, 4), (commented, 3)):
        frame = read_table(path)
        assert list(frame.columns) == ["size", "staff", "region", "sales"] and len(frame) == 40, path.name
        assert inspect_table(frame)["notes_reason"].endswith(f"so the table is read from line {line} on")
    assert inspect_table(read_table(titled))["notes_reason"].startswith(
        "'Table 3: Shops by region, 2024' and 'Source: the statistics office' are written above the table")
    plain = tmp_path / "plain.csv"
    plain.write_text("size,staff,region,sales\n" + rows)
    assert "notes_reason" not in inspect_table(read_table(plain)) and len(read_table(plain)) == 40
    remarks = tmp_path / "remarks.csv"  # sentences with commas, not quoted: no table below a note, refused as before
    remarks.write_text("remark\n" + "".join(f"good{', really' * (i % 4)} good\n" for i in range(20)))
    with pytest.raises(DataError, match="different number of cells than its header"):
        read_table(remarks, fewest_columns=1)


def test_a_workbook_is_read_from_its_largest_sheet(tmp_path):
    """Published workbooks often open on a sheet of notes or contents, the table on the next."""
    frame = make_table(30)
    with pd.ExcelWriter(tmp_path / "survey.xlsx") as book:
        pd.DataFrame({"Survey of shops, 2024": ["Source: the statistics office", "The table is on 'Data'"]}).to_excel(
            book, sheet_name="Notes", index=False)
        frame.to_excel(book, sheet_name="Data", index=False)
        pd.DataFrame({"colour": ["red"], "meaning": ["a warm colour"]}).to_excel(book, sheet_name="Codes", index=False)
    read = read_table(tmp_path / "survey.xlsx")
    assert read.shape == frame.shape and list(read.columns) == list(frame.columns)
    assert inspect_table(read)["sheet_reason"] == (
        "the workbook holds 3 sheets ('Notes', 'Data' and 'Codes'); 'Data', the largest, was read. To learn from "
        "another, save that sheet alone as a CSV file and add it")
    frame.to_excel(tmp_path / "one.xlsx", index=False)
    assert "sheet_reason" not in inspect_table(read_table(tmp_path / "one.xlsx"))  # nothing to say of one sheet


def test_quoted_newlines_and_mixed_columns(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text('id,note,code,label\n1,"two\nlines",7,a\n2,plain,X9,b\n3,"a, comma",8,a\n')
    frame = read_table(path)
    assert frame["note"].tolist() == ["two\nlines", "plain", "a, comma"]
    assert frame["code"].tolist() == ["7", "X9", "8"]  # numbers and words together become text


def test_detection_gives_reasons_and_respects_choices():
    frame = sample_frame("wine")
    found = inspect_table(frame)
    assert (found["kind"], found["target"], found["task"]) == ("tabular", "label", "classification")
    assert "usual name for the column to predict" in found["target_reason"]
    assert "different labels" in found["task_reason"]
    chosen = inspect_table(frame, target="alcohol")
    assert (chosen["target"], chosen["task"], chosen["target_reason"]) == ("alcohol", "regression", "you chose it")
    forced = inspect_table(frame, target="alcohol", task="classification")
    assert forced["task_reason"] == "you chose it"
    diabetes = inspect_table(sample_frame("diabetes"))
    assert (diabetes["target"], diabetes["task"]) == ("progression", "regression")
    assert "last column" in diabetes["target_reason"]


def test_the_answer_is_found_by_its_usual_name_wherever_it_stands():
    """Public tables often give their answer first, or before columns added later: a customer's churn, a passenger's
    survival, a house's sale price before its longitude and latitude."""
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({"churn": rng.choice(["Yes", "No"], 80), "tenure": rng.integers(0, 70, 80),
                              "total_charges": rng.uniform(20, 8000, 80)})
    assert inspect_table(customers)["target"] == "churn"
    houses = pd.DataFrame({"Lot_Area": rng.integers(2000, 20000, 80), "Sale_Price": rng.integers(50_000, 500_000, 80),
                           "Longitude": rng.uniform(-93.7, -93.6, 80), "Latitude": rng.uniform(41.9, 42.1, 80)})
    found = inspect_table(houses)
    assert (found["target"], found["task"]) == ("Sale_Price", "regression")
    assert found["target_reason"] == "its name, 'Sale_Price', is a usual name for the column to predict"
    passengers = pd.DataFrame({"Survived": rng.integers(0, 2, 80), "Pclass": rng.integers(1, 4, 80),
                               "Embarked": rng.choice(["S", "C", "Q"], 80)})
    assert inspect_table(passengers)["target"] == "Survived"


def test_the_answer_is_found_by_the_file_s_name(tmp_path):
    """A table is often named for what it is about: car_prices.csv gives each car's Price, first."""
    rng = np.random.default_rng(0)
    cars = pd.DataFrame({"Price": rng.integers(8000, 60000, 80), "Mileage": rng.integers(0, 50000, 80),
                         "Make": rng.choice(["Buick", "Saab"], 80), "wagon": rng.integers(0, 2, 80)})
    cars.to_csv(tmp_path / "car_prices.csv", index=False)
    found = inspect_table(read_table(tmp_path / "car_prices.csv"))
    assert (found["target"], found["task"]) == ("Price", "regression")
    assert found["target_reason"] == "the file's name, 'car_prices.csv', names it: the table is about 'Price'"
    cars.to_csv(tmp_path / "cars.csv", index=False)
    assert inspect_table(read_table(tmp_path / "cars.csv"))["target"] == "wagon"  # no word in common: the last column
    cities = pd.DataFrame({"city": [f"town {i}" for i in range(80)], "area": rng.uniform(5, 500, 80),
                           "population": rng.integers(10_000, 900_000, 80)})
    cities.to_csv(tmp_path / "cities.csv", index=False)
    assert inspect_table(read_table(tmp_path / "cities.csv"))["target"] == "population"  # names name rows


def test_a_y_beside_an_x_is_read_as_an_input_not_as_the_answer():
    rng = np.random.default_rng(0)
    sizes = pd.DataFrame({"carat": rng.uniform(0.2, 2, 60), "x": rng.uniform(3, 8, 60), "y": rng.uniform(3, 8, 60),
                          "z": rng.uniform(2, 5, 60), "price": rng.integers(300, 9000, 60)})
    found = inspect_table(sizes)  # diamonds' width in mm, beside its length and depth
    assert found["target"] == "price" and "last column" in found["target_reason"]
    assert inspect_table(sizes[["x", "y"]])["target"] == "y"  # last: the answer all the same
    assert inspect_table(sizes.rename(columns={"x": "x1", "z": "x2"}))["target"] == "y"  # no 'x': a usual name


def test_a_last_column_that_cannot_be_the_answer_is_passed_over(home, tmp_path):
    # Belgian wages (Ecdat's Bwages) as a package saves it: its last column, 'sex', holds no value at all.
    rng = np.random.default_rng(0)
    wages = pd.DataFrame({"wage": rng.uniform(3, 20, 80).round(2), "educ": rng.integers(1, 6, 80),
                          "exper": rng.integers(0, 40, 80), "sex": np.nan, "country": "BE"})
    path = tmp_path / "Bwages.csv"
    wages.to_csv(path, index=False)
    dataset = add_dataset(path)
    found = dataset["quality_report"]["detected"]
    assert (dataset["target"], dataset["task"]) == ("exper", "regression")
    assert found["target_reason"] == ("it is the last column but for empty columns and columns of one value, "
                                      "where the answer usually goes")
    assert inspect_table(wages.drop(columns=["sex", "country"]))["target_reason"] == (
        "it is the last column, where the answer usually goes")
    # A last column of names or remarks (Ecdat's HHS breaches end with 206 descriptions) holds too many labels to be
    # classes.
    strikes = pd.DataFrame({"height": rng.integers(0, 3000, 600), "damage": rng.choice(["none", "minor"], 600),
                            "struck": [f"bird {i % 241}" for i in range(600)]})
    found = inspect_table(strikes)
    assert found["target"] == "damage" and "but for columns of more than 100 labels" in found["target_reason"]
    assert inspect_table(strikes.assign(struck=strikes["struck"].str[:6]))["target"] == "struck"  # 10 labels
    # A column named as the answer is taken at its word, and refused in plain words when it cannot be one
    # (tests/test_data_bad_input.py): mosaicData's Gestation, whose 'outcome' is a live birth in every row.
    assert inspect_table(strikes.assign(outcome="live birth"))["target"] == "outcome"


def test_report_finds_each_kind_of_problem():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(200)],
        "age": rng.normal(40, 10, 200).round(),
        "income": rng.normal(50_000, 8_000, 200),
        "country": rng.choice(["FR", "DE", "NL"], 200),
        "source": "web",
        "label": rng.choice(["Yes", "No"], 200),
    })
    frame.loc[:9, "age"] = np.nan
    frame.loc[5, "income"] = 5_000_000  # a slipped zero or three
    frame.loc[20:23, "label"] = ["yes", "yes ", "YES.", "no"]
    frame = pd.concat([frame, frame.iloc[[50, 51]]], ignore_index=True)
    conflict = frame.iloc[[60]].copy()
    conflict["label"] = "No" if frame.loc[60, "label"] == "Yes" else "Yes"
    frame = pd.concat([frame, conflict], ignore_index=True)
    report = quality_report(frame, "label", "classification")
    codes = {p["code"]: p for p in report["problems"]}
    assert report["missing"]["age"] == 10
    assert codes["missing"]["actions"][0] == {"label": "Fill with the median", "step": "fill_missing",
                                              "column": "age", "method": "median"}
    assert report["duplicate_rows"] == 2 and "2 duplicate rows" in codes["duplicates"]["title"]
    assert report["conflicting_duplicates"] == 1
    assert report["constant_columns"] == ["source"]
    assert report["nearly_constant_columns"] == []
    spellings = [p["title"] for p in report["problems"] if p["code"] == "label_spellings"]
    assert any("'Yes'" in t and "'yes '" in t and "'YES.'" in t for t in spellings)
    assert any("'No'" in t and "'no'" in t for t in spellings)
    assert report["outliers"]["income"]["count"] == 1 and codes["outliers"]["severity"] == "warning"
    assert "identifier" in codes["id_column"]["title"]
    # The values of each category column (not the constant one), which the table network's presets speak of.
    assert report["category_values"] == {"customer_id": 200, "country": 3}
    for problem in report["problems"]:
        assert problem["effect"] and problem["fix"]
    json.dumps(report)


def test_identifiers_are_told_by_their_names_however_they_are_written():
    from engine.data.columns import looks_like_id

    numbers = pd.Series(range(100))
    for name in ("PassengerId", "CustomerID", "userId", "customer_id", "order key", "id_number", "ID", "uuid"):
        assert looks_like_id(numbers, name), name
    for name in ("valid", "paid", "Idaho", "width", "key_length", "monkey"):
        assert not looks_like_id(numbers, name), name
    assert not looks_like_id(pd.Series([1, 2] * 50), "PassengerId")  # names a column, but not one per row


def test_report_names_the_columns_too_nearly_constant_to_be_read():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"bit_{i}": 0 for i in range(9)} | {"x": rng.normal(size=300), "label": ["a", "b"] * 150})
    for i in range(7):
        frame.loc[[10 * i, 10 * i + 1], f"bit_{i}"] = 1  # bit_7 and bit_8 stay 0: constant
    report = quality_report(frame, "label", "classification")
    assert report["constant_columns"] == ["bit_7", "bit_8"]
    constant = [p for p in report["problems"] if p["code"] == "constant"]
    assert [p["title"] for p in constant] == ["2 columns have the same value in every row: 'bit_7' and 'bit_8'"]
    assert report["nearly_constant_columns"] == [f"bit_{i}" for i in range(7)]
    nearly = [p for p in report["problems"] if p["code"] == "nearly_constant"]
    assert len(nearly) == 1 and nearly[0]["actions"] == []
    assert nearly[0]["title"] == ("7 number columns hold the same value in all but a few rows: 'bit_0', 'bit_1', "
                                  "'bit_2', 'bit_3', 'bit_4' and 2 more")
    assert "fewer than 5 training rows is not read" in nearly[0]["effect"]

    one = quality_report(frame[["bit_3", "bit_8", "x", "label"]], "label", "classification")
    constant = [p for p in one["problems"] if p["code"] == "constant"]
    assert constant[0]["actions"] == [{"label": "Remove 'bit_8'", "step": "drop_column", "column": "bit_8"}]
    nearly = [p for p in one["problems"] if p["code"] == "nearly_constant"][0]
    assert nearly["title"].startswith("1 number column holds the same value in all but a few rows: 'bit_3'")
    assert nearly["actions"] == [{"label": "Remove 'bit_3'", "step": "drop_column", "column": "bit_3"}]


def test_add_a_table_and_read_it_back(home, table_csv):
    dataset = add_dataset(table_csv, name="customers")
    assert (dataset["kind"], dataset["target"], dataset["task"], dataset["n_rows"]) == \
        ("tabular", "label", "classification", 120)
    assert dataset["schema"]["columns"] == {"x1": "number", "x2": "number", "colour": "category",
                                            "label": "category"}
    assert load_table(dataset).equals(pd.read_csv(table_csv))
    assert len(dataset["sha256"]) == 64
    again = add_dataset(table_csv, name="customers")
    assert again["name"] == "customers (2)"


@pytest.mark.slow
def test_command_line_add_and_show(home, table_csv):
    added = cli("datasets", "add", str(table_csv), "--name", "shop", "--target", "x1", "--json")
    assert added.returncode == 0, added.stderr
    document = json.loads(added.stdout)
    assert (document["kind"], document["target"], document["task"]) == ("tabular", "x1", "regression")
    shown = cli("datasets", "show", "shop", "--json")
    report = json.loads(shown.stdout)["quality_report"]
    assert report["detected"]["target_reason"] == "you chose it"
    assert "problems" in report and "rows" in report
    text = cli("datasets", "add", str(table_csv), "--kind", "ratings", "--json")
    assert text.returncode == 2 and "Choose the column that holds the user" in text.stderr
    assert [d["name"] for d in repo.list_datasets()] == ["shop"]


def test_files_as_they_come_from_other_tools(tmp_path):
    """Shapes seen in real files: no header, a description line as header, columns lined up with spaces."""
    headerless = tmp_path / "digits.csv"
    headerless.write_text("".join(f"{i % 7},{i % 5},{i % 3}\n" for i in range(30)))
    frame = read_table(headerless)
    assert list(frame.columns) == ["column 1", "column 2", "column 3"] and len(frame) == 30
    assert "first row holds numbers" in inspect_table(frame)["header_reason"]
    messages = tmp_path / "SMSSpamCollection.txt"  # label, tab, message: no header row either
    sent = ["Ok lar... Joking wif u oni", "Free entry in 2 a wkly comp to win FA Cup final tkts",
            "U dun say so early hor... U c already then say", "Nah I don't think he goes to usf, he lives around here"]
    messages.write_text("".join(f"{'spam' if i % 4 == 1 else 'ham'}\t{sent[i % 4]} {i}\n" for i in range(40)))
    frame = read_table(messages)
    assert list(frame.columns) == ["column 1", "column 2"] and len(frame) == 40
    detected = inspect_table(frame)
    assert (detected["kind"], detected["text_column"], detected["target"]) == ("text", "column 2", "column 1")
    assert detected["target_reason"] == "it is the last column but for the texts, where the answer usually goes"
    assert detected["header_reason"] == ("the first row holds values, not names ('ham' is also found further down "
                                         "its column), so it is read as data and the columns are called column 1 "
                                         "and column 2")
    joined = tmp_path / "joined.txt"  # two such files joined, each with a header of its own: a header all the same
    joined.write_text("\n".join(["label\tmessage"] + messages.read_text().splitlines()[:20] + ["label\tmessage"] +
                                 messages.read_text().splitlines()[20:]) + "\n")
    assert list(read_table(joined).columns) == ["label", "message"]
    survey = tmp_path / "survey.csv"  # long questions are names all the same, free answers below them or not
    survey.write_text("Which team are you in?,What would you change about the office?\n" +
                      "".join(f"{'sales' if i % 2 else 'support'},more light and a quieter room {i}\n" for i in range(20)))
    assert list(read_table(survey).columns) == ["Which team are you in?", "What would you change about the office?"]
    spaced = tmp_path / "exercise.txt"
    spaced.write_text("Chins Situps Jumps\n" + "".join(f"{i} {100 + i} {60 - i}\n" for i in range(20)))
    assert list(read_table(spaced).columns) == ["Chins", "Situps", "Jumps"]
    report = quality_report(read_table(spaced).assign(Jumps=[1, 1] * 10, Chins=0), "Jumps", "regression")
    assert report["problems"] and all(p["severity"] != "serious" for p in report["problems"])


def test_row_numbers_a_program_wrote_are_left_out(home, tmp_path):
    """pandas' to_csv and to_excel and R's write.csv write a table's row numbers as a first column with no name; in a
    file sorted by its answer they would give it away, and they tell nothing of a new row."""
    frame = make_table(120).sort_values("label")
    frame.to_csv(tmp_path / "pandas.csv")  # 0, 1, 2 … in the order of the rows before sorting
    frame.set_axis(range(1, 121)).to_excel(tmp_path / "r.xlsx")  # 1 to 120, as R numbers them
    for name, low, high in (("pandas.csv", 0, 119), ("r.xlsx", 1, 120)):
        dataset = add_dataset(tmp_path / name)
        assert list(dataset["schema"]["columns"]) == ["x1", "x2", "colour", "label"]
        assert dataset["quality_report"]["detected"]["row_numbers_reason"] == (
            f"the first column, which has no name, only numbers the rows ({low} to {high}), as programs do when they "
            "save a table; it is left out, as the place of a row in the file tells nothing about it")
        assert list(load_table(dataset).columns) == ["x1", "x2", "colour", "label"]
    assert "Unnamed: 0" in read_table(tmp_path / "pandas.csv").columns  # rows to predict are read as they are

    kept = {"names.csv": frame.set_axis([f"car {i}" for i in range(120)]),  # row names, not numbers: an identifier
            "id.csv": frame.rename_axis("id"),  # a named column
            "years.csv": frame.set_axis(range(1901, 2021)),  # whole numbers, but not counted from 0 or 1
            "two.csv": frame[["label"]]}  # only one column would be left
    for name, table in kept.items():
        table.to_csv(tmp_path / name)
        dataset = add_dataset(tmp_path / name, target="label")
        assert "row_numbers_reason" not in dataset["quality_report"]["detected"]
        assert len(dataset["schema"]["columns"]) == table.shape[1] + 1


def test_json_records_in_every_common_shape(home, tmp_path):
    """Exports from web services come as JSON: a list of records, one record per line (JSON Lines) or an object of
    columns. A record within a record becomes columns named outer.inner, a list in a cell its items; a broken line
    is named."""
    records = [{"review": {"text": f"a {'good' if i % 2 else 'poor'} film, seen on day {i}", "stars": i % 5 + 1},
                "label": "liked" if i % 2 else "not liked", "tags": ["drama", "new"],
                "seen": f"2024-03-{i % 28 + 1:02d}"}
               for i in range(40)]
    (tmp_path / "reviews.json").write_text(json.dumps(records))
    (tmp_path / "reviews.jsonl").write_text("\n".join(json.dumps(record) for record in records) + "\n")
    for name in ("reviews.json", "reviews.jsonl"):
        frame = read_table(tmp_path / name)
        assert list(frame.columns) == ["label", "tags", "seen", "review.text", "review.stars"] and len(frame) == 40
        assert frame["tags"][0] == "drama, new" and frame["review.stars"].tolist()[:3] == [1, 2, 3]
        assert pd.api.types.is_datetime64_any_dtype(frame["seen"])
    (tmp_path / "columns.json").write_text(json.dumps({"size": list(range(30)), "colour": ["red", "blue"] * 15},
                                                     indent=2))
    assert read_table(tmp_path / "columns.json").shape == (30, 2)
    shop = make_table(50)
    for orient in ("columns", "index", "split", "records", "table"):  # the ways pandas writes a table
        (tmp_path / f"{orient}.json").write_text(shop.to_json(orient=orient))
        assert read_table(tmp_path / f"{orient}.json").shape == shop.shape, orient
    wrapped = {"count": 50, "data": json.loads(shop.to_json(orient="records"))}
    (tmp_path / "wrapped.json").write_text(json.dumps(wrapped))
    assert read_table(tmp_path / "wrapped.json").shape == shop.shape
    added = cli("datasets", "add", str(tmp_path / "reviews.jsonl"), "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["target"] == "label"
    (tmp_path / "broken.jsonl").write_text('{"a": 1, "b": 2}\n{"a": 2, "b":\n')
    refused = cli("datasets", "add", str(tmp_path / "broken.jsonl"))
    assert refused.returncode == 2 and "(line 2 is not a whole record)" in refused.stderr
    (tmp_path / "numbers.json").write_text("[1, 2, 3]")
    assert "Trainyard reads a list of records" in cli("datasets", "add", str(tmp_path / "numbers.json")).stderr


def test_a_table_packed_with_gzip_bzip2_xz_or_in_a_zip_is_unpacked_and_read(home, tmp_path):
    """Public data sets come packed: telco.csv.gz, a ZIP of one table. Each is read as the table inside; a ZIP of
    several tables names them, a broken or too large packed file is refused in plain words, and nothing is left."""
    import bz2
    import gzip
    import lzma
    import zipfile

    table = make_table(60).to_csv(index=False).encode()
    for suffix, pack in ((".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)):
        (tmp_path / f"shop.csv{suffix}").write_bytes(pack(table))
        dataset = add_dataset(tmp_path / f"shop.csv{suffix}", name=f"shop{suffix}")
        assert (dataset["kind"], dataset["n_rows"], dataset["source_name"]) == ("tabular", 60, "shop.csv")
    with zipfile.ZipFile(tmp_path / "one.zip", "w") as archive:
        archive.writestr("data/customers.csv", table)
    assert add_dataset(tmp_path / "one.zip")["name"] == "one"
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", table)
        archive.writestr("b.csv", table)
    (tmp_path / "broken.csv.gz").write_bytes(b"no gzip here")
    with zipfile.ZipFile(tmp_path / "damaged.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customers.csv", table)
    damaged = bytearray((tmp_path / "damaged.zip").read_bytes())
    damaged[60:64] = b"\xff\xff\xff\xff"  # within the packed table: a download cut or spoilt
    (tmp_path / "damaged.zip").write_bytes(bytes(damaged))
    (tmp_path / "pictures.tar.gz").write_bytes(gzip.compress(b"x"))
    for path, message, options in (
            ("two.zip", "holds 2 tables and no pictures ('a.csv' and 'b.csv'). Unpack it and add the table", {}),
            ("broken.csv.gz", "'broken.csv.gz' is not a readable gzip file.", {}),
            ("damaged.zip", "'damaged.zip' is damaged or packed in a way Trainyard cannot unpack", {}),
            ("pictures.tar.gz", "unpacks to 'pictures.tar', which is not a table Trainyard reads", {}),
            ("shop.csv.gz", "unpacks to 'shop.csv' of more than 0 MB, the limit for a file",
             {"max_bytes": len(gzip.compress(table)) + 100})):
        before = repo.list_datasets()
        with pytest.raises(DataError, match=re.escape(message)):
            add_dataset(tmp_path / path, **options)
        assert repo.list_datasets() == before
    assert not any((home / "uploads").iterdir())  # no unpacked copy left behind


def test_numbers_written_for_people_are_read_as_numbers(home, tmp_path):
    """A spreadsheet saved where a comma marks the decimals parts its cells with semicolons: 1.234,5 is a number,
    and the column holding it is the answer to predict, not a category of 30 values. Commas between thousands and
    currency or percent signs are read too."""
    european = tmp_path / "flats.csv"
    rows = [f"{20 + i},{i % 10};{i % 4 + 1};{i % 3},5 kg;{1 + i // 10}.{i % 10}00,{i % 100:02d}\n" for i in range(30)]
    european.write_text("area;rooms;weight;price\n" + "".join(rows) + ";2;1,5 kg;\n", encoding="utf-8")
    frame = read_table(european)
    assert frame["area"].tolist()[:2] == [20.0, 21.1] and frame["price"].tolist()[:2] == [1000.0, 1100.01]
    assert frame["price"].isna().tolist()[-1] and frame["area"].isna().tolist()[-1]  # an empty cell stays empty
    assert frame["weight"].tolist()[0] == "0,5 kg"  # a number with a unit is no number
    assert frame.attrs["written_numbers"] == {"area": ["decimal comma"], "price": ["decimal comma"]}
    added = cli("datasets", "add", str(european), "--name", "flats")
    assert added.returncode == 0, added.stderr
    assert "predicting 'price' (regression)" in added.stdout
    assert ("Numbers: 'area' and 'price' hold numbers written with a decimal comma (3,5 for three and a half): they "
            "are read as numbers." in added.stdout)
    report = json.loads(cli("datasets", "show", "flats", "--json").stdout)["quality_report"]
    assert report["detected"]["numbers_reason"].startswith("'area' and 'price' hold numbers written")

    american = tmp_path / "sales.csv"  # a quoted cell of a comma-separated file: commas between thousands
    american.write_text("region,units,revenue\n" + "".join(f'r{i % 3},{i},"{i + 1},{i % 10}00.50"\n'
                                                            for i in range(20)))
    sales = read_table(american)
    assert sales["revenue"].tolist()[:2] == [1000.5, 2100.5]
    assert sales.attrs["written_numbers"] == {"revenue": ["thousands commas"]}
    assert "with commas between thousands (1,234.5)" in inspect_table(sales)["numbers_reason"]
    assert "numbers_reason" not in inspect_table(sales.drop(columns="revenue"))  # said of the columns kept only

    spaced = tmp_path / "spaced.csv"  # names with spaces around them; digits Python does not read stay text
    spaced.write_text("area ; price ; code\n" + "".join(f"{i},5 ; {i}0,25 ; \u0661{i}\n" for i in range(20)))
    read = read_table(spaced)
    assert read.attrs["written_numbers"] == {"area": ["decimal comma"], "price": ["decimal comma"]}
    assert read["code"].dtype.kind not in "if"
    tiny = tmp_path / "returns.csv"  # pandas writes very small numbers with an exponent, in a spreadsheet's way too
    tiny.write_text("day;return\n" + "".join(f"{i};{'1,5e-05' if i % 4 == 0 else f'-0,00{i}'}\n" for i in range(20)))
    assert read_table(tiny)["return"].tolist()[:2] == [1.5e-05, -0.001]

    signed = tmp_path / "shop.csv"  # formatted cells as a spreadsheet saves them: currency and percent signs
    signed.write_text("item,price,discount,euros\n" + "".join(f'i{i},"-${i},{i:03d}.5",{i} %,{i}0 €\n'
                                                                for i in range(1, 21)))
    shop = read_table(signed)
    assert shop["price"].tolist()[:2] == [-1001.5, -2002.5] and shop["discount"].tolist()[:2] == [1, 2]
    assert shop["euros"].tolist()[:2] == [10, 20]
    assert shop.attrs["written_numbers"] == {"price": ["thousands commas", "signs"], "discount": ["signs"],
                                            "euros": ["signs"]}
    assert inspect_table(shop)["numbers_reason"] == (
        "'price' holds numbers written with commas between thousands (1,234.5); 'price', 'discount' and 'euros' hold "
        "numbers written with a currency or percent sign, which is left out (45 % is read as 45): they are read as "
        "numbers")


def test_dates_written_as_text_are_read_as_dates(home, tmp_path):
    """A date column is read as dates in whatever common way it is written, so that a model can read when; a
    column with one cell that is no date stays text, and the report says which columns hold dates."""
    path = tmp_path / "visits.csv"
    lines = [f"2021-{1 + i % 12:02d}-{1 + i % 28:02d},{1 + i % 12}/{1 + i % 28}/2021 {i % 24}:30,"
             f"2021-03-01T{i % 24:02d}:00:00Z,{1 + i % 28:02d}.{1 + i % 12:02d}.2021,"
             f"{'soon' if i == 5 else '2021-01-01'},"
             f"{'2021-05-0' + str(1 + i % 9) if i % 10 else ''},{i % 2}\n" for i in range(40)]
    path.write_text("day,us,zoned,german,note,gaps,came\n" + "".join(lines))
    frame = read_table(path)
    assert frame["day"].tolist()[:2] == [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-02")]
    assert frame["us"].tolist()[1] == pd.Timestamp("2021-02-02 01:30")  # month first, in a comma-separated file
    assert frame["zoned"].tolist()[1] == pd.Timestamp("2021-03-01 01:00")  # in UTC, without a zone
    assert frame["german"].tolist()[1] == pd.Timestamp("2021-02-02")  # day first, parted by dots
    assert frame["note"].dtype.kind not in "Mm"  # 'soon' is no date
    assert frame["gaps"].isna().sum() == 4 and frame["gaps"].dtype.kind == "M"  # an empty cell stays empty

    semicolons = tmp_path / "orders.csv"  # a spreadsheet that parts cells by semicolons writes the day first
    semicolons.write_text("ordered;amount\n" + "".join(f"{1 + i % 12}/{1 + i % 3}/2021;{i}\n" for i in range(20)))
    assert read_table(semicolons)["ordered"].tolist()[1] == pd.Timestamp("2021-02-02")

    added = cli("datasets", "add", str(path), "--name", "visits", "--target", "came", "--task", "classification")
    assert added.returncode == 0, added.stderr
    assert ("Dates: 'day', 'us', 'zoned' and 2 more hold dates: the model reads each as its moment in time, its "
            "month, its day of the week, its day of the month, its day of the year and its time of day, where they "
            "differ from row to row." in added.stdout)
    report = json.loads(cli("datasets", "show", "visits", "--json").stdout)["quality_report"]
    assert report["types"]["day"] == "date" and report["types"]["note"] == "category"
    assert not [p for p in report["problems"] if p["code"] == "id_column"]  # a date of its own per row tells when
    dated = make_table(30).assign(when=[f"2021-01-{1 + i % 28:02d}" for i in range(30)])
    dated.to_csv(tmp_path / "dated.csv", index=False)
    assert inspect_table(read_table(tmp_path / "dated.csv"))["target"] == "label"  # a date last is not the answer


def test_a_question_mark_for_an_empty_cell_leaves_its_column_a_number(tmp_path):
    """Many public data sets write ? for a value nobody measured: the column is still numbers, with empty cells."""
    path = tmp_path / "heart.csv"
    path.write_text("age,vessels,thal,disease\n" + "".join(
        f"{40 + i},{'?' if i % 7 == 0 else float(i % 4)},{'-' if i % 9 == 0 else i % 3},{i % 2}\n" for i in range(40)))
    frame = read_table(path)
    assert frame["vessels"].dtype.kind == "f" and int(frame["vessels"].isna().sum()) == 6
    assert frame["thal"].dtype.kind == "f" and int(frame["thal"].isna().sum()) == 5
    assert frame.attrs["written_numbers"] == {"vessels": ["empty marks"], "thal": ["empty marks"]}
    assert inspect_table(frame)["numbers_reason"] == (
        "'vessels' and 'thal' hold numbers written with ? or - for an empty cell, which is read as empty: they are "
        "read as numbers")
    problems = quality_report(frame, "disease", "classification")["problems"]
    assert any("6 missing cells in 'vessels'" in p["title"] for p in problems)
    words = tmp_path / "words.csv"  # a column of words keeps its question marks as a value of their own
    words.write_text("colour,size\n" + "".join(f"{'?' if i % 5 == 0 else 'red'},{i}\n" for i in range(20)))
    assert read_table(words)["colour"].tolist()[:2] == ["?", "red"]
    assert "written_numbers" not in read_table(words).attrs


def test_a_description_line_instead_of_a_header_is_explained(home, tmp_path):
    from engine.errors import DataError

    path = tmp_path / "wine_data.csv"  # scikit-learn's own files: sizes and class names, then rows with no header
    path.write_text("178,13,class_0,class_1,class_2\n" + "".join(
        ",".join(str(v) for v in range(13)) + f",{i % 3}\n" for i in range(20)))
    dataset = add_dataset(path)
    assert (dataset["n_rows"], dataset["n_columns"], dataset["target"]) == (20, 14, "column 14")
    assert dataset["quality_report"]["detected"]["notes_reason"] == (
        "'178,13,class_0,class_1,class_2' is written above the table, not in it, so the table is read from line 2 on")
    path = tmp_path / "scores.csv"  # a header one name short: R's write.table, its rows starting with their names
    path.write_text("score,passed\n" + "".join(f"student {i},{i},{i % 2}\n" for i in range(20)))
    with pytest.raises(DataError, match="has 2 names in its first row but 3 cells"):
        add_dataset(path)
    gz = tmp_path / "table.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00")  # cut short
    with pytest.raises(DataError, match="not a readable gzip file. Download or pack it again, or unpack it yourself"):
        add_dataset(gz)
    assert [d["name"] for d in repo.list_datasets()] == ["wine_data"]  # the refused files left nothing
