"""In a real browser: a model trained on a sample answers in the Playground, and Evaluate offers its download."""

import pytest

from engine.data.samples import add_sample
from tests.browser import Dashboard, assert_no_exception, browser_page, screenshot, stop_workers, wait_idle
from tests.trained import train_run

pytestmark = pytest.mark.browser


def test_try_a_trained_sample_in_the_playground_and_download_it(home, tmp_path):
    run = train_run(add_sample("iris"), epochs=30, batch_size=16)
    dashboard = Dashboard(home).start()
    try:
        with browser_page() as page:
            page.goto(f"{dashboard.url}/playground?run={run['id']}")
            # The first visit exports the model for ONNX Runtime in a child process.
            page.get_by_role("button", name="Predict").wait_for(timeout=180_000)
            wait_idle(page)
            petal = page.get_by_role("spinbutton", name="petal length (cm)")
            petal.fill("1.4")
            petal.press("Enter")
            page.get_by_role("button", name="Predict").click()
            prediction = page.locator('[data-testid="stMetric"]', has_text="Prediction")
            prediction.wait_for()
            wait_idle(page)
            answer = prediction.locator('[data-testid="stMetricValue"]').inner_text()
            assert answer in ("setosa", "versicolor", "virginica")
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
            assert page.get_by_text("sure", exact=False).count() > 0
            screenshot(page, "playground-1-prediction")
            assert_no_exception(page)

            page.goto(f"{dashboard.url}/evaluate?run={run['id']}")
            page.get_by_text("on data it never saw", exact=False).first.wait_for()
            wait_idle(page)
            screenshot(page, "evaluate-1-report")
            page.get_by_role("button", name="Prepare the download").click()
            download_button = page.get_by_role("button", name="Download the model (ZIP)")
            download_button.wait_for(timeout=180_000)
            wait_idle(page)
            with page.expect_download() as download:
                download_button.click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.name == f"trainyard-run-{run['id']}.zip" and saved.stat().st_size > 1000
            screenshot(page, "evaluate-2-download")
            assert_no_exception(page)
    finally:
        dashboard.stop()
        stop_workers(home)
