"""Hostile files and names: each attack of the probe in issue #21, tried on the real parts, is refused in plain
words or made harmless, and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from db import repo
from engine.data.ingest import add_dataset, datasets_dir
from engine.errors import DataError
from tests.conftest import ROOT, cli, make_table, open_page
from tests.factories import make_dataset, make_run

# Runs `python -m engine ARGS` as its only child and prints that child's peak memory (kB) last on stderr.
PEAK = ("import resource, subprocess, sys; code = subprocess.call([sys.executable, '-m', 'engine', *sys.argv[1:]]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def cli_with_peak(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run the command line in a fresh process; give back the finished process and its peak memory in MB."""
    done = subprocess.run([sys.executable, "-c", PEAK, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    *message, peak = done.stderr.strip().splitlines()
    done.stderr = "\n".join(message)
    return done, int(peak) / 1024


def files_left(home: Path) -> list[str]:
    """Give back every file under the Trainyard home (the test's own folder) but the database and its lock."""
    kept = {"trainyard.db", "trainyard.db-wal", "trainyard.db-shm", ".migrate.lock"}
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and p.name not in kept)


def parquet_bomb(path: Path, row_groups: int = 30) -> Path:
    """A file of under 1 MB that unpacks to row_groups million rows of four number columns (about 1 GB)."""
    part = pa.table({column: pa.array([0] * 1_000_000, pa.int64()) for column in ("a", "b", "c", "label")})
    with pq.ParquetWriter(path, part.schema) as writer:
        for _ in range(row_groups):
            writer.write_table(part)
    return path


XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}


def xlsx_bomb(path: Path, rows: int, declared: str | None = None) -> Path:
    """A hand-made workbook of rows rows of two numbers (a header first); declared is the size its sheet
    claims ('A1:B3'), which may be less than it holds."""
    declared = declared or f"A1:B{rows + 1}"
    row = b"<row><c><v>1</v></c><c><v>2</v></c></row>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in XLSX_PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet '
                        b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                        + f'<dimension ref="{declared}"/><sheetData>'.encode()
                        + b'<row><c t="inlineStr"><is><t>x</t></is></c>'
                        + b'<c t="inlineStr"><is><t>label</t></is></c></row>')
            for start in range(0, rows, 100_000):
                sheet.write(row * min(100_000, rows - start))
            sheet.write(b"</sheetData></worksheet>")
    return path


# ---------------------------------------------------------------- tables that unpack to too much


@pytest.mark.slow
def test_parquet_bomb_is_refused_from_its_footer_with_little_memory(home, tmp_path_factory):
    bomb = parquet_bomb(tmp_path_factory.mktemp("sent") / "bomb.parquet")
    assert bomb.stat().st_size < 1 << 20
    done, peak_mb = cli_with_peak("datasets", "add", str(bomb), "--json")
    assert done.returncode == 2, done.stderr
    assert "'bomb.parquet' has 30,000,000 rows; at most 5,000,000 fit." in done.stderr
    assert "TRAINYARD_MAX_TABLE_ROWS" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert peak_mb < 1024, f"peak memory {peak_mb:.0f} MB"
    assert repo.list_datasets() == [] and files_left(home) == []


@pytest.mark.slow
def test_xlsx_bomb_is_refused_with_little_memory(home, tmp_path_factory):
    bomb = xlsx_bomb(tmp_path_factory.mktemp("sent") / "bomb.xlsx", 6_000_000)
    assert bomb.stat().st_size < 4 << 20
    done, peak_mb = cli_with_peak("datasets", "add", str(bomb), "--json")
    assert done.returncode == 2, done.stderr
    assert "'bomb.xlsx' has 6,000,000 rows; at most 5,000,000 fit." in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert peak_mb < 1024, f"peak memory {peak_mb:.0f} MB"
    assert repo.list_datasets() == [] and files_left(home) == []


def test_xlsx_that_claims_to_be_small_is_stopped_while_reading(home, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_MAX_TABLE_ROWS", "1000")
    bomb = xlsx_bomb(tmp_path / "liar.xlsx", 50_000, declared="A1:B3")
    with pytest.raises(DataError, match=r"'liar.xlsx' has more than 1,000 rows; at most 1,000 fit\."):
        add_dataset(bomb)
    assert repo.list_datasets() == [] and list(datasets_dir().iterdir()) == []


def test_wide_csv_is_refused_by_its_cells_and_long_csv_by_its_rows(home, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_MAX_TABLE_CELLS", "1000")
    path = tmp_path / "wide.csv"
    make_table(300).to_csv(path, index=False)  # 300 rows × 4 columns = 1,200 cells
    with pytest.raises(DataError, match=r"at most 1,000 cells \(rows × columns\) fit, so at most 250 rows"):
        add_dataset(path)
    monkeypatch.delenv("TRAINYARD_MAX_TABLE_CELLS")
    monkeypatch.setenv("TRAINYARD_MAX_TABLE_ROWS", "100")
    with pytest.raises(DataError, match=r"'wide.csv' has 300 rows; at most 100 fit\."):
        add_dataset(path)  # read whole, as that fits in the memory free, and refused then
    import engine.data.tables as tables

    monkeypatch.setattr(tables, "free_memory", lambda: path.stat().st_size)  # too little to read it whole
    with pytest.raises(DataError, match=r"'wide.csv' has more than 100 rows; at most 100 fit\."):
        add_dataset(path)  # its lines counted first and read one row past the limit
    assert repo.list_datasets() == [] and list(datasets_dir().iterdir()) == []



# ---------------------------------------------------------------- what refused, abandoned and killed imports leave


def age(path: Path, days: float) -> Path:
    """Make path (and what it holds) look untouched for days."""
    import os
    import time

    when = time.time() - days * 86400
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.utime(item, (when, when))
    return path


def test_a_refused_upload_leaves_no_copy_behind(home):
    at = open_page("datasets")
    at.file_uploader[0].set_value(("one.csv", b"a,label\n" + b"".join(b"%d,yes\n" % i for i in range(30)),
                                   "text/csv")).run()
    assert at.button(key="add-dataset")
    at.button(key="add-dataset").click().run()
    assert not at.exception
    assert any("one" in e.value.lower() for e in at.error), [e.value for e in at.error]
    assert repo.list_datasets() == []
    assert list((home / "uploads").iterdir()) == []

    at.file_uploader[0].set_value(("garbage.csv", bytes(range(256)) * 100, "text/csv")).run()
    assert any("does not look like a CSV table" in e.value for e in at.error)
    assert list((home / "uploads").iterdir()) == []


def test_a_replaced_upload_leaves_only_the_new_copy(home):
    at = open_page("datasets")
    at.file_uploader[0].set_value(("first.csv", make_table().to_csv(index=False).encode(), "text/csv")).run()
    (first,) = (home / "uploads").iterdir()
    at.file_uploader[0].set_value(("second.csv", make_table(90).to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception
    (second,) = (home / "uploads").iterdir()
    assert second != first and not first.exists()


@pytest.mark.slow
def test_leftovers_of_killed_imports_and_old_uploads_go_at_start_up(home, table_csv):
    kept = add_dataset(table_csv, name="kept")
    killed = datasets_dir() / ".incoming-0123abcd"
    killed.mkdir()
    (killed / "table.arrow").write_bytes(b"x" * 1000)
    age(killed, 2)
    running = datasets_dir() / ".incoming-4567ef"  # an import still running in another process: left alone
    running.mkdir()
    (running / "table.arrow").write_bytes(b"x")
    uploads = home / "uploads"
    uploads.mkdir(exist_ok=True)
    abandoned = uploads / "tmpabandoned.csv"
    abandoned.write_text("a,b\n1,2\n")
    age(abandoned, 1.5)
    fresh = uploads / "tmpfresh.csv"
    fresh.write_text("a,b\n1,2\n")

    done = cli("init", "--json")
    assert done.returncode == 0, done.stderr
    assert not killed.exists() and not abandoned.exists()
    assert running.exists() and fresh.exists()
    assert Path(kept["files_path"]).exists() and [d["name"] for d in repo.list_datasets()] == ["kept"]

    age(running, 2)
    done = cli("worker", "--once")
    assert done.returncode == 0, done.stderr
    assert not running.exists() and fresh.exists()


def test_the_dashboard_removes_leftovers_when_it_starts(home):
    killed = datasets_dir() / ".incoming-89ab"
    killed.mkdir()
    (killed / "index.arrow").write_bytes(b"x")
    age(killed, 3)
    open_page("home")
    assert not killed.exists()


# ---------------------------------------------------------------- CSV downloads that a spreadsheet opens


def test_csv_cells_that_start_a_formula_are_written_as_text_and_numbers_stay_numbers():
    import csv
    import io

    import numpy as np
    import pandas as pd

    from db.csv_export import frame_csv

    rows = pd.DataFrame({"text": ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", None],
                         "number": [-1.5, 2.0, -3.0, np.nan, 0.25, 1e-7, -0.0, 4.0],
                         "=HYPERLINK(\"http://evil\")": [1, -2, 3, 4, 5, 6, 7, 8]})
    text = frame_csv(rows).decode()
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == ["text", "number", "'=HYPERLINK(\"http://evil\")"]
    assert [r[0] for r in read[1:]] == ["'=cmd|' /C calc'!A0", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx",
                                        "plain", ""]
    assert [r[1] for r in read[1:]] == ["-1.5", "2.0", "-3.0", "", "0.25", "1e-07", "-0.0", "4.0"]
    assert [r[2] for r in read[1:]] == ["1", "-2", "3", "4", "5", "6", "7", "8"]


def test_the_compare_page_download_is_formula_safe(home, monkeypatch):
    import csv
    import io

    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    sent = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        sent[filename] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    dataset = make_dataset("=cmd|' /C calc'!A0")
    first = make_run(dataset, name='=HYPERLINK("http://evil.example","Click for results")', accuracy=0.8)
    second = make_run(dataset, name="@SUM(1+1)", accuracy=0.7)
    at = open_page("compare", runs=f"{first['id']},{second['id']}")
    assert at.download_button(key="compare-csv")
    table = list(csv.DictReader(io.StringIO(sent["comparison.csv"].decode(), newline="")))
    assert [row["Name"] for row in table] == ["'=HYPERLINK(\"http://evil.example\",\"Click for results\")",
                                              "'@SUM(1+1)"]
    assert {row["Data set"] for row in table} == {"'=cmd|' /C calc'!A0"}
    assert [row["Run"] for row in table] == [str(first["id"]), str(second["id"])]
    assert float(table[0]["Test accuracy"]) == pytest.approx(0.78)


@pytest.mark.slow
def test_the_metric_history_export_keeps_negative_numbers_as_numbers(home):
    run = make_run(make_dataset("d"), accuracy=0.5)
    repo.log_metrics(run["id"], [("val_r2", 1, -0.75, 1.0, 100.0)])
    done = cli("runs", "metrics", str(run["id"]), "--key", "val_r2", "--csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["key,step,epoch,value,time", "val_r2,1,1.0,-0.75,100.0"]


# ---------------------------------------------------------------- strict JSON on the command line


def strict_json(text: str):
    """Parse text as strict JSON: NaN and Infinity, which Python's json reads by default, are refused."""
    import json

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
def test_predict_json_writes_null_for_a_number_that_is_not_one(home, tmp_path):
    from tests.trained import table_dataset, train_run

    run = train_run(table_dataset(tmp_path))
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2,colour\ninf,0.5,red\n1e999,-1e999,blue\n0.1,0.2,green\n")
    done = cli("predict", str(run["id"]), str(rows), "--json")
    assert done.returncode == 0, done.stderr
    assert "NaN" not in done.stdout and "Infinity" not in done.stdout
    answers = strict_json(done.stdout)
    assert len(answers) == 3 and answers[2]["prediction"] in ("class_0", "class_1")


@pytest.mark.slow
def test_metric_history_with_nan_is_strict_json(home):
    run = make_run(make_dataset("d"), accuracy=0.5)
    repo.log_metrics(run["id"], [("train_loss", 99, float("nan"), 9.0, 300.0),
                                 ("val_loss", 99, float("inf"), 9.0, 300.0)])
    for args in (("runs", "metrics", str(run["id"]), "--json"), ("runs", "show", str(run["id"]), "--json")):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        strict_json(done.stdout)


# ---------------------------------------------------------------- names that are Markdown or HTML


HOSTILE_NAME = "![x](http://example.com/a.png) [click](http://evil)"


def unescaped(source: str) -> str:
    """Give back Markdown source as the text a reader sees when every sign in it is escaped."""
    import re

    return re.sub(r"\\(.)", r"\1", source)


def has_markup(source: str) -> bool:
    """Tell whether Markdown source holds a link or an image that is not escaped."""
    import re

    return re.search(r"(?<!\\)\]\s*(?<!\\)\(", source) is not None or re.search(r"(?<!\\)<[a-z]", source) is not None


def test_the_start_page_shows_a_data_set_name_as_plain_text(home, tmp_path):
    dataset = make_dataset(HOSTILE_NAME)
    make_run(dataset, model="mlp", accuracy=0.5)
    at = open_page("home")
    sources = [m.value for m in at.markdown] + [c.value for c in at.caption]
    shown = [s for s in sources if "example" in s]
    assert len(shown) == 2, sources  # the Check step and the latest run
    for source in shown:
        assert not has_markup(source), source
        assert HOSTILE_NAME in unescaped(source)


def test_the_data_sets_page_shows_labels_and_errors_as_text(home, tmp_path):
    import json

    import pandas as pd

    link = '<a href="http://evil.example">click</a>'
    path = tmp_path / "links.csv"
    pd.DataFrame({"x": range(40), "y": [0.5, 1.5] * 20, "label": [link, "[click](http://evil)"] * 20}).to_csv(
        path, index=False)
    dataset = add_dataset(path, name=HOSTILE_NAME, kind="tabular", target="label", task="classification")
    at = open_page("datasets", dataset=dataset["id"])
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    labels = [str(x) for figure in figures for trace in figure["data"] for x in trace.get("x", [])]
    assert labels and not any("<a" in label for label in labels), labels
    assert any("&lt;a href" in label for label in labels)
    for source in [m.value for m in at.markdown] + [c.value for c in at.caption]:
        assert not has_markup(source), source

    at.file_uploader[0].set_value(("[click](http:evil).csv", b"\x00\x01" * 500, "text/csv")).run()
    refusals = [e.value for e in at.error]
    assert refusals and not any(has_markup(message) for message in refusals), refusals


# ---------------------------------------------------------------- pictures


def picture_zip(path: Path, junk: int = 0, huge: bool = False) -> Path:
    """Two classes of six small pictures each, junk files named like pictures, and perhaps a 30000 × 30000 one."""
    import io

    from PIL import Image

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for label, colour in (("cats", (200, 40, 40)), ("dogs", (40, 40, 200))):
            for i in range(6):
                buffer = io.BytesIO()
                Image.new("RGB", (12 + i, 12), colour).save(buffer, "PNG")
                archive.writestr(f"{label}/{i}.png", buffer.getvalue())
        for i in range(junk):
            archive.writestr(f"cats/junk-{i}.png", b"not a picture %d" % i)
        if huge:
            buffer = io.BytesIO()
            Image.new("1", (30_000, 30_000)).save(buffer, "PNG")  # about 110 KB packed, 900 million pixels
            archive.writestr("dogs/huge.png", buffer.getvalue())
    return path


@pytest.mark.slow
def test_a_huge_picture_is_called_too_large_with_the_limit(home, tmp_path):
    dataset = add_dataset(picture_zip(tmp_path / "pictures.zip", huge=True), image_size=(12, 12))
    (why,) = [item["why"] for item in dataset["quality_report"]["unreadable"] if item["file"] == "dogs/huge.png"]
    assert why.startswith("it is too large") and "at most 40,000,000 pixels are read" in why, why


@pytest.mark.slow
def test_the_image_report_names_a_thousand_junk_files_at_most_and_counts_them_all(home, tmp_path):
    from engine.data.cleaning import clean_dataset

    dataset = add_dataset(picture_zip(tmp_path / "junk.zip", junk=1500), image_size=(12, 12))
    report = dataset["quality_report"]
    assert len(report["unreadable"]) == 1000 and report["counts"]["unreadable"] == 1500
    assert any(p["title"].startswith("1,500 files could not be read") for p in report["problems"])
    cleaned = clean_dataset(dataset, {"step": "drop_unreadable"})
    assert cleaned["quality_report"]["counts"]["unreadable"] == 0 and cleaned["n_rows"] == 12
    assert cleaned["quality_report"]["before"]["unreadable_images"] == 1500
