"""Bad input: each gets a plain message, and nothing is stored half-way (no row, no files)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import repo
from engine.data import archive
from engine.data.ingest import add_dataset, datasets_dir
from engine.errors import DataError
from tests.conftest import cli, make_table


def png(colour=(200, 30, 30), size=(12, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as handle:
        for name, data in members.items():
            handle.writestr(name, data)
    return path


def good_images(classes=("cats", "dogs"), per_class=6) -> dict[str, bytes]:
    return {f"{label}/{i}.png": png((40 * i, 100 if label == "cats" else 10, 50)) for label in classes
            for i in range(per_class)}


def assert_refused(path: Path, message: str, **options) -> str:
    """Adding path fails with message in plain words and leaves neither a row nor a file behind."""
    with pytest.raises(DataError) as error:
        add_dataset(path, **options)
    assert message in str(error.value), str(error.value)
    assert "Traceback" not in str(error.value)
    assert repo.list_datasets() == []
    assert list(datasets_dir().iterdir()) == []
    return str(error.value)


# ---------------------------------------------------------------- tables


def test_empty_file(home, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert_refused(path, "is empty")


def test_header_only(home, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,label\n")
    assert_refused(path, "has a header but no rows")


def test_binary_garbage_named_csv(home, tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    assert_refused(path, "does not look like a CSV table")


def test_ragged_rows(home, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x,7,8\n" + "1,2,x\n" * 20)
    message = assert_refused(path, "different number of cells")
    assert "line 4" in message


def test_one_class_only(home, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("a,label\n" + "".join(f"{i},yes\n" for i in range(30)))
    assert_refused(path, "only one class ('yes')")


def test_target_all_missing(home, tmp_path):
    frame = make_table(40)
    frame["label"] = None
    path = tmp_path / "nolabels.csv"
    frame.to_csv(path, index=False)
    assert_refused(path, "Every value in 'label' is missing")


def test_unknown_target_column(home, table_csv):
    assert_refused(table_csv, "There is no column named 'price'", target="price")


def test_text_target_as_regression(home, table_csv):
    assert_refused(table_csv, "holds text, so it cannot be predicted as a number", task="regression")


def test_unknown_file_type(home, tmp_path):
    path = tmp_path / "notes.docx"
    path.write_bytes(b"PK\x03\x04 not really")
    assert_refused(path, "is not a file Trainyard can read")


def test_broken_excel_and_parquet(home, tmp_path):
    for name, message in (("book.xlsx", "not a readable Excel workbook"), ("table.parquet", "not a readable Parquet")):
        path = tmp_path / name
        path.write_bytes(b"this is not a workbook at all" * 10)
        assert_refused(path, message)


def test_file_over_the_limit_states_the_limit(home, tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    make_table(40_000).to_csv(path, index=False)
    message = assert_refused(path, "more than the limit of 1 MB", max_bytes=1 << 20)
    assert "MB" in message and "python -m engine datasets add" in message
    monkeypatch.setenv("TRAINYARD_MAX_FILE_MB", "1")
    assert_refused(path, "more than the limit of 1 MB")


# ---------------------------------------------------------------- archives


def test_zip_with_a_path_leaving_the_folder(home, tmp_path):
    members = good_images() | {"../../evil.png": png()}
    assert_refused(write_zip(tmp_path / "escape.zip", members), "leaves its folder ('../../evil.png')")


def test_zip_with_an_absolute_path(home, tmp_path):
    members = good_images() | {"/etc/evil.png": png()}
    path = write_zip(tmp_path / "absolute.zip", members)
    assert_refused(path, "absolute path")


def test_zip_with_a_windows_drive_path(home, tmp_path):
    path = tmp_path / "drive.zip"
    with zipfile.ZipFile(path, "w") as handle:
        for name, data in good_images().items():
            handle.writestr(name, data)
        info = zipfile.ZipInfo("C:/windows/evil.png")
        handle.writestr(info, png())
    assert_refused(path, "absolute path")


def test_zip_with_a_link(home, tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as handle:
        for name, data in good_images().items():
            handle.writestr(name, data)
        link = zipfile.ZipInfo("cats/passwords.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        handle.writestr(link, "/etc/passwd")
    assert_refused(path, "contains a link ('cats/passwords.png')")


def test_zip_bomb_by_compression_ratio(home, tmp_path):
    members = good_images() | {"cats/huge.png": b"\0" * (20 << 20)}
    path = write_zip(tmp_path / "bomb.zip", members)
    assert path.stat().st_size < 200_000
    assert_refused(path, "looks like a ZIP bomb")


def test_zip_bomb_by_total_size(home, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1 << 20)
    noise = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    members = {f"cats/big{i}.png": noise for i in range(4)} | good_images()
    assert_refused(write_zip(tmp_path / "large.zip", members, zipfile.ZIP_STORED), "unpacks to more than 1 MB")


def test_zip_bomb_by_file_count(home, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_FILES", 10)
    assert_refused(write_zip(tmp_path / "many.zip", good_images(per_class=6)), "holds 12 files; Trainyard opens at most 10")


def test_zip_with_no_images(home, tmp_path):
    members = {"readme.txt": b"hello", "data/notes.md": b"# notes"}
    assert_refused(write_zip(tmp_path / "empty.zip", members), "holds neither pictures nor a table Trainyard reads; "
                   "it holds 'readme.txt' and 'notes.md'")
    assert_refused(write_zip(tmp_path / "empty.zip", members), "holds no images", kind="image")


def test_empty_zip_file_and_not_a_zip(home, tmp_path):
    empty = tmp_path / "nothing.zip"
    empty.write_bytes(b"")
    assert_refused(empty, "is empty")
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"just some text, not an archive" * 20)
    assert_refused(fake, "is not a readable ZIP archive")


def test_zip_of_images_without_labels(home, tmp_path):
    members = {f"{i}.png": png() for i in range(6)}
    assert_refused(write_zip(tmp_path / "flat.zip", members), "but no labels")


def test_zip_with_one_class(home, tmp_path):
    assert_refused(write_zip(tmp_path / "one.zip", good_images(classes=("cats",))), "only one class ('cats')")


def test_zip_where_no_image_can_be_read(home, tmp_path):
    members = {f"{label}/{i}.png": b"\x89PNG not really" for label in ("a", "b") for i in range(3)}
    assert_refused(write_zip(tmp_path / "broken.zip", members), "None of the 6 images")


def test_password_protected_zip(home, tmp_path):
    path = write_zip(tmp_path / "locked.zip", good_images())
    data = bytearray(path.read_bytes())
    # Set the "encrypted" flag in every local and central header, as a password tool would.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            data[start + offset] |= 0x1
            start += 4
    path.write_bytes(bytes(data))
    assert_refused(path, "protected by a password")


def test_corrupt_image_among_good_ones_is_skipped_and_reported(home, tmp_path):
    members = good_images() | {"cats/broken.png": png()[:40], "dogs/fake.jpg": b"not a picture"}
    dataset = add_dataset(write_zip(tmp_path / "pets.zip", members))
    report = dataset["quality_report"]
    assert dataset["n_rows"] == 12
    assert {item["file"] for item in report["unreadable"]} == {"cats/broken.png", "dogs/fake.jpg"}
    problem = next(p for p in report["problems"] if p["code"] == "unreadable")
    assert problem["title"].startswith("2 files could not be read")
    assert problem["actions"][0]["step"] == "drop_unreadable"


@pytest.mark.slow
def test_the_command_line_says_it_plainly(home, tmp_path):
    path = tmp_path / "escape.zip"
    write_zip(path, good_images() | {"../evil.png": png()})
    done = cli("datasets", "add", str(path), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("Error: The ZIP contains a path that leaves its folder")
    assert repo.list_datasets() == []


def test_too_few_images(home, tmp_path):
    assert_refused(write_zip(tmp_path / "two.zip", good_images(per_class=2)), "at least 10 are needed")
