"""A sweep as a user starts it in a real browser: the form, the live page, the trials trained by the dashboard's own
worker, and a normal run from the best settings."""

from __future__ import annotations

import pytest

from db import repo
from tests.browser import assert_no_exception, browser_page, dashboard_in, screenshot, wait_idle
from tests.conftest import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    with dashboard_in(tmp_path_factory, "sweeps-home") as started:
        yield started


def test_a_sweep_from_the_form_to_a_run_with_its_best_settings(dashboard):
    from engine.data.samples import add_sample
    from engine.search.results import sweep_document

    dataset = add_sample("wine")
    with browser_page() as page:
        page.goto(f"{dashboard.url}/sweeps?dataset={dataset['id']}")
        wait_idle(page)
        page.get_by_role("tab", name="Choose the settings to search").click()
        page.get_by_text("Learning rate: from").first.wait_for()
        trials = page.get_by_role("spinbutton", name="Trials")
        trials.fill("4")
        trials.press("Enter")
        at_once = page.get_by_role("spinbutton", name="At once")
        at_once.fill("2")
        at_once.press("Enter")
        wait_idle(page)
        preset = page.get_by_role("combobox", name="Each trial starts from")
        preset.click()
        preset.fill("Quick")
        preset.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Start sweep").click()
        page.wait_for_url("**/sweeps?sweep=*", timeout=60_000)
        sweep_id = int(page.evaluate("() => new URL(location.href).searchParams.get('sweep')"))
        wait_idle(page)
        assert_no_exception(page)
        assert repo.get_sweep(sweep_id)["trials"] == 4 and repo.get_sweep(sweep_id)["parallel"] == 2

        wait_until(lambda: repo.get_sweep(sweep_id)["status"] != "running", timeout=400, every=1)
        assert repo.get_sweep(sweep_id)["status"] == "completed"
        page.get_by_text("The best trial is run").wait_for(timeout=30_000)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        wait_idle(page)
        assert_no_exception(page)
        screenshot(page, "sweep-finished")
        trials_of = repo.sweep_runs(sweep_id)
        assert len(trials_of) == 4 and {run["status"] for run in trials_of} <= {"completed", "pruned"}

        page.get_by_role("button", name="Train with the best settings").click()
        page.wait_for_url("**/run?run=*", timeout=60_000)
        run_id = int(page.evaluate("() => new URL(location.href).searchParams.get('run')"))
        best = repo.get_run(sweep_document(sweep_id)["best"]["run_id"])
        assert repo.get_run(run_id)["config"] == best["config"] and repo.get_run(run_id)["sweep_id"] is None
        wait_idle(page)
        assert_no_exception(page)
