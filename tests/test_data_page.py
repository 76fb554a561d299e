"""The Data sets page in AppTest: every kind, the report, one-click fixes, versions and bad uploads."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from db import repo
from engine.data.samples import add_sample, film_ratings, product_reviews
from tests.conftest import make_table
from tests.conftest import open_page as open_any_page
from tests.conftest import page_texts as texts


def open_page(**query) -> AppTest:
    return open_any_page("datasets", **query)


def zip_of_pictures() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
            for i in range(8):
                picture = io.BytesIO()
                Image.new("RGB", (20 + i, 16), colour).save(picture, "PNG")
                archive.writestr(f"shapes/{label}/{i}.png", picture.getvalue())
    return buffer.getvalue()


@pytest.mark.parametrize("sample", ["messy_iris", "digits", "reviews", "films"])
@pytest.mark.slow
def test_each_kind_shows_its_report_without_errors(home, sample):
    dataset = add_sample(sample)
    at = open_page(dataset=dataset["id"])
    assert not at.exception
    shown = texts(at)
    assert "**Kind:**" in shown and "because" in shown
    labels = {m.label for m in at.metric}
    assert {"Task", "Problems found"} <= labels
    if sample == "digits":
        assert any(m.label == "Image size" and m.value == "32 × 32" for m in at.metric)
        assert at.get("imgs") or at.get("image")
    if sample == "films":
        assert {"Users", "Items"} <= labels


@pytest.mark.slow
def test_upload_a_text_table_detects_text(home):
    at = open_page()
    data = product_reviews(200).to_csv(index=False).encode()
    at.file_uploader[0].set_value(("reviews.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.radio(key="upload-kind").value == "text"
    assert "holds sentences" in texts(at)
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    (dataset,) = repo.list_datasets()
    assert (dataset["kind"], dataset["target"], dataset["schema"]["text_column"]) == ("text", "sentiment", "review")


@pytest.mark.slow
def test_numbers_with_a_decimal_comma_are_read_as_numbers_and_the_page_says_so(home):
    at = open_page()
    rows = "".join(f"{20 + i},{i % 10};{i % 4 + 1};{1 + i // 10}.{i % 10}00,50\n" for i in range(40))
    at.file_uploader[0].set_value(("flats.csv", ("area;rooms;price\n" + rows).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    said = ("Numbers: 'area' and 'price' hold numbers written with a decimal comma (3,5 for three and a half): they "
            "are read as numbers.")
    assert said in texts(at)
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    (dataset,) = repo.list_datasets()
    assert (dataset["target"], dataset["task"]) == ("price", "regression")
    assert "**Numbers:** 'area' and 'price' hold numbers" in texts(open_page(dataset=dataset["id"]))


@pytest.mark.slow
def test_upload_ratings_and_choose_the_columns(home):
    at = open_page()
    data = film_ratings(60, 40).to_csv(index=False).encode()
    at.file_uploader[0].set_value(("films.csv", data, "text/csv")).run()
    assert at.radio(key="upload-kind").value == "ratings"
    assert at.selectbox(key="upload-user").value == "user_id"
    assert at.selectbox(key="upload-item").value == "film"
    at.selectbox(key="upload-timestamp").set_value("(none)")
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    (dataset,) = repo.list_datasets()
    assert dataset["kind"] == "ratings" and dataset["task"] == "rating"
    assert dataset["schema"]["roles"]["timestamp"] is None
    detected = dataset["quality_report"]["detected"]
    # The rating column was accepted as suggested, and only the timestamp changed: the reason stays the suggestion's.
    assert detected["target_reason"] == "'rating' is named like a rating"


def test_the_user_can_turn_a_detected_kind_into_another(home):
    at = open_page()
    frame = make_table(80)
    at.file_uploader[0].set_value(("t.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert at.radio(key="upload-kind").value == "tabular"
    at.selectbox(key="upload-target").set_value("x1").run()
    assert at.radio(key="upload-task-x1").value == "regression"
    at.button(key="add-dataset").click().run()
    (dataset,) = repo.list_datasets()
    assert (dataset["target"], dataset["task"]) == ("x1", "regression")


def test_upload_a_zip_of_images_at_a_chosen_size(home):
    at = open_page()
    at.file_uploader[0].set_value(("shapes.zip", zip_of_pictures(), "application/zip")).run()
    assert not at.exception, at.exception
    assert "16 images in 2 classes" in texts(at)
    at.number_input(key="upload-width").set_value(12)
    at.number_input(key="upload-height").set_value(10)
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    (dataset,) = repo.list_datasets()
    assert (dataset["kind"], dataset["schema"]["width"], dataset["schema"]["height"]) == ("image", 12, 10)
    assert dataset["quality_report"]["detected"]["size_reason"] == "you chose it"


def test_a_suggested_picture_size_accepted_keeps_its_reason(home):
    at = open_page()
    at.file_uploader[0].set_value(("shapes.zip", zip_of_pictures(), "application/zip")).run()
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    (dataset,) = repo.list_datasets()
    assert dataset["quality_report"]["detected"]["size_reason"] == (
        "the images have different sizes, typically about 23 × 16 pixels, so they are resized to a 24 × 24 square")


def test_upload_a_table_packed_in_a_zip_as_data_sites_give_them(home):
    """A download from a data site is a ZIP of train.csv, test.csv and a notes file: the training table is read and
    shown as any table, named as the ZIP."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("houses/train.csv", make_table(120).to_csv(index=False))
        archive.writestr("houses/test.csv", make_table(30).drop(columns="label").to_csv(index=False))
        archive.writestr("houses/README.md", "Columns: x1, x2 …")
    at = open_page()
    at.file_uploader[0].set_value(("download.zip", buffer.getvalue(), "application/zip")).run()
    assert not at.exception, at.exception
    assert "**train.csv**: 120 rows" in texts(at)
    assert at.text_input(key="upload-name").value == "download"
    at.button(key="add-dataset").click().run()
    assert not at.exception, at.exception
    (dataset,) = repo.list_datasets()
    assert (dataset["name"], dataset["kind"], dataset["n_rows"], dataset["source_name"]) == (
        "download", "tabular", 120, "train.csv")


def test_a_bad_zip_gets_a_plain_message_and_stores_nothing(home):
    at = open_page()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../outside.png", b"x")
    at.file_uploader[0].set_value(("evil.zip", buffer.getvalue(), "application/zip")).run()
    assert not at.exception
    assert any("leaves its folder" in e.value for e in at.error)
    assert repo.list_datasets() == []


def test_a_file_over_the_upload_limit_states_the_limit(home):
    before = streamlit_config.get_option("server.maxUploadSize")
    streamlit_config.set_option("server.maxUploadSize", 1)
    try:
        at = open_page()
        data = make_table(30_000).to_csv(index=False).encode()
        assert len(data) > 1 << 20
        at.file_uploader[0].set_value(("big.csv", data, "text/csv")).run()
        assert not at.exception
        assert any("more than the limit of 1 MB" in e.value for e in at.error), [e.value for e in at.error]
        assert repo.list_datasets() == []
    finally:
        streamlit_config.set_option("server.maxUploadSize", before)


def test_try_a_sample(home):
    at = open_page()
    at.selectbox(key="sample").set_value("reviews")
    at.button(key="add-sample").click().run()
    assert not at.exception, at.exception
    assert "Added the sample 'Product reviews'" in texts(at)
    assert repo.list_datasets()[0]["kind"] == "text"


def test_one_click_fix_makes_a_linked_version_with_before_and_after(home):
    source = add_sample("messy_iris")
    at = open_page(dataset=source["id"])
    merge = next(b for b in at.button if b.label == "Merge the spellings" and b.key.startswith("fix-"))
    merge.click().run()
    assert not at.exception, at.exception
    datasets = repo.list_datasets()
    assert len(datasets) == 2
    cleaned = next(d for d in datasets if d["parent_id"] == source["id"])
    assert "label spellings merged" in cleaned["name"]
    assert "The source, 'Iris flowers, messy', is kept" in texts(at)
    assert at.query_params["dataset"] == [str(cleaned["id"])] or at.query_params["dataset"] == str(cleaned["id"])
    assert "Before and after" in texts(at)
    table = at.dataframe[-1].value
    rows = dict(zip(table[""], zip(table["Before"], table["After"])))
    assert rows["Classes"] == (5, 3)


@pytest.mark.slow
def test_fill_missing_values_with_a_value_of_your_choice(home):
    source = add_sample("messy_iris")
    at = open_page(dataset=source["id"])
    at.radio(key=f"clean-gap-column-{source['id']}").set_value("petal length (cm)")
    at.radio(key=f"clean-gap-way-{source['id']}").set_value("constant").run()
    at.text_input(key=f"clean-gap-value-{source['id']}").set_value("1.5")
    at.button(key=f"clean-gap-apply-{source['id']}").click().run()
    assert not at.exception, at.exception
    cleaned = next(d for d in repo.list_datasets() if d["parent_id"] == source["id"])
    assert cleaned["quality_report"]["missing"]["petal length (cm)"] == 0
    assert "filled with 1.5" in cleaned["quality_report"]["cleaning"]["changed"]


def test_a_fix_that_does_not_apply_says_so(home):
    dataset = add_sample("wine")
    at = open_page(dataset=dataset["id"])
    at.button(key=f"clean-dups-{dataset['id']}").click().run()
    assert not at.exception
    assert any("Nothing to change" in e.value for e in at.error)
    assert len(repo.list_datasets()) == 1
