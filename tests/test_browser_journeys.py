"""In a real browser, one journey per kind of data: upload a file → add it → train → try the model.

All journeys share one dashboard to save its start-up. Each prints how many clicks (and fields filled) it took
and how long it ran, and saves a screenshot of every step in test-artifacts/journey-KIND-N-STEP.png.
"""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

from db import repo
from engine.data.samples import SAMPLES
from tests.browser import Dashboard, assert_no_exception, browser_page, dashboard_in, screenshot, wait_idle
from tests.conftest import shape_picture, shapes_zip, wait_until

pytestmark = pytest.mark.browser

UPLOAD = '[data-testid="stFileUploaderDropzoneInput"]'


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    with dashboard_in(tmp_path_factory, "journeys-home") as started:
        yield started


class Journey:
    """Counts what the user does and saves a numbered screenshot of each step."""

    def __init__(self, page, kind: str):
        self.page, self.kind = page, kind
        self.clicks, self.step = 0, 0
        self.started = time.monotonic()

    def click(self, locator) -> None:
        locator.click()
        self.clicks += 1

    def fill(self, locator, value: str) -> None:
        locator.fill(value)
        locator.press("Enter")
        self.clicks += 1

    def upload(self, path) -> None:
        self.page.locator(UPLOAD).first.set_input_files(str(path))
        self.clicks += 1

    def shot(self, name: str) -> None:
        wait_idle(self.page)
        assert_no_exception(self.page)
        self.step += 1
        screenshot(self.page, f"journey-{self.kind}-{self.step}-{name}")

    def prediction(self) -> str:
        """Wait for the Playground's answer, screenshot it, and give back what it predicted."""
        shown = self.page.locator('[data-testid="stMetric"]', has_text="Prediction")
        shown.wait_for()
        self.shot("prediction")
        return shown.locator('[data-testid="stMetricValue"]').inner_text()

    def report(self) -> None:
        print(f"\njourney {self.kind}: {self.clicks} clicks, {time.monotonic() - self.started:.0f} s")


def add_and_train(journey: Journey, dashboard: Dashboard, path, added: str) -> int:
    """Upload path on Data sets, add it, train it with the Quick preset; give back the finished run's id."""
    page = journey.page
    page.goto(f"{dashboard.url}/datasets")
    wait_idle(page)
    journey.upload(path)
    page.get_by_role("button", name="Add data set").wait_for()
    journey.shot("upload")
    journey.click(page.get_by_role("button", name="Add data set"))
    page.get_by_text(f"Added '{added}'").wait_for(timeout=120_000)
    journey.shot("added")

    journey.click(page.get_by_role("button", name="Train a model on this data set"))
    page.get_by_role("button", name="Train", exact=True).wait_for()
    wait_idle(page)
    quick = page.locator(".st-key-preset button", has_text="Quick")
    if quick.count():
        journey.click(quick.first)
    else:  # without presets, set few epochs by hand
        journey.fill(page.get_by_role("spinbutton", name="Epochs"), "2")
    journey.shot("new-run")
    estimate = page.get_by_text("Before you train")
    if estimate.count():  # the estimates, the schedule chart and the reasons, below the settings
        estimate.scroll_into_view_if_needed()
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        journey.shot("estimate")
    journey.click(page.get_by_role("button", name="Train", exact=True))
    page.wait_for_url("**/run?run=*", timeout=60_000)
    run_id = int(page.evaluate("() => new URL(location.href).searchParams.get('run')"))
    wait_until(lambda: repo.get_run(run_id)["status"] not in ("queued", "running"), timeout=240, every=1)
    assert repo.get_run(run_id)["status"] == "completed", repo.get_run(run_id)["error"]
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=30_000)
    journey.shot("trained")

    journey.click(page.locator('[data-testid="stSidebarNavLink"]', has_text="Playground"))
    page.get_by_role("button", name="Recommend" if journey.kind == "ratings" else "Predict").or_(
        page.locator(".st-key-image-file")).first.wait_for(timeout=180_000)  # first visit exports the model
    journey.shot("playground")
    return run_id


def test_table_journey(dashboard, tmp_path):
    path = tmp_path / "flowers.csv"
    SAMPLES["iris"].write(path)
    with browser_page() as page:
        journey = Journey(page, "table")
        add_and_train(journey, dashboard, path, "flowers")
        petal = page.get_by_role("spinbutton", name="petal length (cm)")
        journey.fill(petal, "1.4")
        journey.click(page.get_by_role("button", name="Predict"))
        assert journey.prediction() in ("setosa", "versicolor", "virginica")
        journey.report()


def test_images_journey(dashboard, tmp_path):
    path = tmp_path / "digits.zip"
    SAMPLES["digits"].write(path)
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.startswith("digits/3/"))
        picture = tmp_path / "three.png"
        picture.write_bytes(archive.read(name))
    with browser_page() as page:
        journey = Journey(page, "images")
        add_and_train(journey, dashboard, path, "digits")
        journey.upload(picture)
        assert journey.prediction() in [str(d) for d in range(10)]
        journey.report()


def test_few_pictures_journey_trains_the_pretrained_model(dashboard, tmp_path):
    """10 pictures per class: the New run page starts from the pretrained network, which learns them."""
    path = shapes_zip(tmp_path / "shapes.zip", per_class=10)
    picture = tmp_path / "a-square.png"
    shape_picture("square", np.random.default_rng(99)).save(picture)
    with browser_page() as page:
        journey = Journey(page, "few-pictures")
        run_id = add_and_train(journey, dashboard, path, "shapes")
        run = repo.get_run(run_id)
        assert run["model"] == "efficientnet_lite0" and run["config"]["model"]["train_part"] == "head"
        journey.upload(picture)
        assert journey.prediction() in ("circle", "square", "triangle")
        journey.report()


def test_text_journey(dashboard, tmp_path):
    path = tmp_path / "reviews.csv"
    SAMPLES["reviews"].write(path)
    with browser_page() as page:
        journey = Journey(page, "text")
        add_and_train(journey, dashboard, path, "reviews")
        text = page.get_by_role("textbox", name="Type or paste a text")
        text.fill("The kettle works perfectly. I love it.")
        journey.clicks += 1
        journey.click(page.get_by_role("button", name="Predict"))
        assert journey.prediction() in ("positive", "negative")
        journey.report()


def test_ratings_journey(dashboard, tmp_path):
    path = tmp_path / "film_ratings.csv"
    SAMPLES["films"].write(path)
    with browser_page() as page:
        journey = Journey(page, "ratings")
        add_and_train(journey, dashboard, path, "film_ratings")
        journey.click(page.get_by_role("button", name="Recommend"))
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        journey.shot("recommendations")
        points = page.evaluate("""() => {
            const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
            return plot && plot.calcdata && plot.calcdata[0] ? plot.calcdata[0].length : 0;
        }""")
        assert points > 0
        journey.report()


def test_bad_files_get_a_plain_message_and_the_app_keeps_working(dashboard, tmp_path):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 40)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    good = tmp_path / "wine.csv"
    SAMPLES["wine"].write(good)
    with browser_page() as page:
        page.goto(f"{dashboard.url}/datasets")
        wait_idle(page)
        for number, (path, words) in enumerate([(garbage, "does not look like a CSV"), (empty, "is empty")], 1):
            page.locator(UPLOAD).first.set_input_files(str(path))
            alert = page.locator('[data-testid="stAlert"]', has_text=words)
            alert.wait_for()
            wait_idle(page)
            assert "Traceback" not in alert.inner_text()
            assert_no_exception(page)
            screenshot(page, f"journey-bad-file-{number}-{path.stem}")
        page.locator(UPLOAD).first.set_input_files(str(good))
        page.get_by_role("button", name="Add data set").click()
        page.get_by_text("Added 'wine'").wait_for(timeout=120_000)
        wait_idle(page)
        assert_no_exception(page)
        screenshot(page, "journey-bad-file-3-then-a-good-one")
