"""The main journey in a real browser: upload a table, train, watch the curve, find the run after a restart."""

import time

import pytest

from db import repo
from tests.browser import Dashboard, assert_no_exception, browser_page, screenshot, stop_workers, wait_idle
from tests.conftest import make_table, wait_until

pytestmark = pytest.mark.browser


def chart_points(page) -> int:
    """Give back how many points the first Plotly trace on the page draws."""
    return page.evaluate("""() => {
        const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        // _fullData holds the decoded traces, however the figure encoded its arrays; an empty trace has 0
        const trace = plot && plot._fullData && plot._fullData[0];
        return trace ? (trace._length ?? (trace.x ? trace.x.length : 0)) : 0;
    }""")


def test_upload_train_watch_and_find_the_run_after_a_restart(home, tmp_path):
    csv = tmp_path / "customers.csv"
    make_table(rows=3000).to_csv(csv, index=False)
    dashboard = Dashboard(home).start()
    try:
        with browser_page() as page:
            page.goto(f"{dashboard.url}/datasets")
            wait_idle(page)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(csv))
            # The first upload on a fresh server also loads the data libraries: allow it time.
            page.get_by_role("button", name="Add data set").click(timeout=120_000)
            page.get_by_text("Added 'customers'").wait_for()
            wait_idle(page)
            screenshot(page, "foundation-1-dataset")
            assert_no_exception(page)

            page.get_by_role("button", name="Train a model on this data set").click()
            page.get_by_role("button", name="Train", exact=True).wait_for()
            wait_idle(page)
            epochs = page.get_by_role("spinbutton", name="Epochs")
            epochs.fill("200")  # long enough to restart the dashboard while it trains
            epochs.press("Enter")
            wait_idle(page)
            screenshot(page, "foundation-2-new-run")
            pressed = time.monotonic()
            page.get_by_role("button", name="Train", exact=True).click()
            page.wait_for_url("**/run?run=*", timeout=60_000)
            page.get_by_role("heading", name="Run 1").wait_for()  # the New run page (and its chart) is gone
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=90_000)
            wait_until(lambda: chart_points(page) > 0, timeout=90, every=0.1)
            first_point = time.monotonic() - pressed
            seen = chart_points(page)
            wait_until(lambda: chart_points(page) > seen, timeout=60)  # the live curve grows
            screenshot(page, "foundation-3-training")
            assert_no_exception(page)
            run_id = int(page.evaluate("() => new URL(location.href).searchParams.get('run')"))
        print(f"\nfrom pressing Train to the first point on the curve: {first_point:.1f} s")

        # Restart the dashboard while the run trains: the run goes on in the worker.
        assert repo.get_run(run_id)["status"] == "running"
        dashboard.stop()
        time.sleep(2)
        assert repo.get_run(run_id)["status"] == "running"
        dashboard.start()
        wait_until(lambda: repo.get_run(run_id)["status"] not in ("queued", "running"), timeout=480)
        assert repo.get_run(run_id)["status"] == "completed", repo.get_run(run_id)["error"]

        with browser_page() as page:
            page.goto(f"{dashboard.url}/runs")
            wait_idle(page)
            page.locator("[role=gridcell]", has_text="Finished").first.wait_for(state="attached")
            screenshot(page, "foundation-4-runs")
            page.goto(f"{dashboard.url}/run?run={run_id}")
            wait_idle(page)
            accuracy = page.locator('[data-testid="stMetric"]', has_text="Test accuracy")
            accuracy.wait_for()
            value = accuracy.locator('[data-testid="stMetricValue"]').inner_text()
            assert value.endswith("%") and 0 <= float(value[:-1]) <= 100
            screenshot(page, "foundation-5-run")
            assert_no_exception(page)
    finally:
        dashboard.stop()
        stop_workers(home)
