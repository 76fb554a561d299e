"""In a real browser: the Playground explains its answer for a row, a text and a picture, and Evaluate says which
columns matter most."""

import numpy as np
import pytest
from PIL import Image

from engine.data.ingest import add_dataset
from tests.browser import Dashboard, assert_no_exception, browser_page, screenshot, stop_workers, wait_idle
from tests.factories import corner_zip, sign_table, train, word_texts

pytestmark = pytest.mark.browser


def open_playground(page, dashboard, run_id: int) -> None:
    page.goto(f"{dashboard.url}/playground?run={run_id}")
    # The first visit exports the model for ONNX Runtime in a child process.
    page.get_by_text("Answers come from", exact=False).first.wait_for(timeout=180_000)
    wait_idle(page)


def wait_for_explanation(page) -> None:
    page.get_by_text("Why this answer").wait_for()
    page.get_by_text("approximation", exact=False).first.wait_for(timeout=60_000)
    wait_idle(page, timeout=60_000)
    page.get_by_text("approximation", exact=False).last.scroll_into_view_if_needed()  # for the screenshot


def test_the_playground_explains_a_row_a_text_and_a_picture(home, tmp_path):
    sign_table().to_csv(tmp_path / "signs.csv", index=False)
    table = train(add_dataset(tmp_path / "signs.csv", name="signs", target="label"),
                  {"name": "mlp", "hidden_sizes": [16]})
    word_texts().to_csv(tmp_path / "words.csv", index=False)
    text = train(add_dataset(tmp_path / "words.csv", name="words", kind="text", target="label"),
                 {"name": "bag_of_embeddings", "embedding_dim": 16})
    (tmp_path / "pictures").mkdir()
    pictures = train(add_dataset(corner_zip(tmp_path / "pictures" / "corners.zip"), name="corners"),
                     {"name": "resnet_small", "base_width": 8}, epochs=15)
    picture = tmp_path / "bright.png"
    pixels = np.random.default_rng(3).integers(60, 196, size=(16, 16)).astype(np.uint8)
    pixels[:6, :6] = 255
    Image.fromarray(pixels, mode="L").save(picture)

    dashboard = Dashboard(home).start()
    try:
        with browser_page() as page:
            open_playground(page, dashboard, table["id"])
            decider = page.get_by_role("spinbutton", name="decider")
            decider.fill("2.5")
            decider.press("Enter")
            page.get_by_role("button", name="Predict").click()
            wait_for_explanation(page)
            chart = page.locator('[data-testid="stPlotlyChart"]', has_text="What pushed this answer")
            chart.wait_for()
            assert "decider" in chart.inner_text()
            assert page.get_by_text("pushed most towards 'up'", exact=False).count() > 0
            screenshot(page, "explain-1-row")
            assert_no_exception(page)

            open_playground(page, dashboard, text["id"])
            page.get_by_role("textbox", name="Type or paste a text").fill("my friend said it was excellent <b>")
            page.get_by_role("button", name="Predict").click()
            wait_for_explanation(page)
            page.get_by_text("pushed towards good", exact=False).first.wait_for()
            chips = page.locator('[data-testid="stMarkdownContainer"]', has_text="excellent").last
            assert "excellent" in chips.inner_text() and "<b>" not in chips.inner_html().replace("&lt;b&gt;", "")
            screenshot(page, "explain-2-text")
            assert_no_exception(page)

            open_playground(page, dashboard, pictures["id"])
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(picture))
            wait_for_explanation(page)
            heat = page.locator('[data-testid="stPlotlyChart"]', has_text="Where the model looked")
            heat.wait_for()
            assert page.get_by_text("top left", exact=False).count() > 0
            screenshot(page, "explain-3-picture")
            assert_no_exception(page)

            page.goto(f"{dashboard.url}/evaluate?run={table['id']}")
            page.get_by_text("Which columns matter most").first.wait_for(timeout=60_000)
            wait_idle(page)
            page.get_by_text("Work out which columns matter").click()
            importance = page.locator('[data-testid="stPlotlyChart"]', has_text="Which columns matter most")
            importance.wait_for(timeout=60_000)
            wait_idle(page, timeout=60_000)
            assert page.get_by_text("'decider' matters most", exact=False).count() > 0
            screenshot(page, "explain-4-columns")
            assert_no_exception(page)
    finally:
        dashboard.stop()
        stop_workers(home)
