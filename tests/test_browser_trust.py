"""What a user reads in a real browser: a text file's encoding named, no problem in a column the model does not
read, a run that over-fitted saying so, and the pages readable on a 400-pixel phone screen."""

from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import update

from db import repo
from db.models import Run
from db.session import session_scope
from tests.browser import Dashboard, assert_no_exception, browser_page, stop_workers, wait_idle
from tests.conftest import make_table

pytestmark = pytest.mark.browser

PHONE = 400


def overfitted_ratings_run() -> dict:
    """A finished ratings run whose validation error was lowest at epoch 2 and ended 9 % worse."""
    dataset = repo.create_dataset(name="films", kind="ratings", task="regression", target="rating", n_rows=300,
                                  n_columns=3, schema={}, quality_report={}, files_path="/nowhere", sha256="0" * 64)
    config = {"model": {"name": "matrix_factorization"}, "training": {"epochs": 4}, "split": {"seed": 0}}
    run = repo.create_run(dataset["id"], "matrix_factorization", config, name="films")
    rmse = [0.95, 0.8945, 0.92, 0.974]
    repo.log_metrics(run["id"], [("val_rmse", epoch * 10, value, float(epoch), 100.0 + epoch)
                                 for epoch, value in enumerate(rmse, start=1)]
                     + [("train_loss", epoch * 10, 1.0 / epoch, float(epoch), 100.0 + epoch) for epoch in range(1, 5)]
                     + [("learning_rate", epoch * 10, 0.01 / epoch, float(epoch), 100.0 + epoch) for epoch in range(1, 5)]
                     + [("test_rmse", 40, 0.97, 4.0, 105.0), ("test_mae", 40, 0.75, 4.0, 105.0)])
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(
            status="completed", started_at=datetime(2026, 3, 1, 12, 0), finished_at=datetime(2026, 3, 1, 12, 5)))
    return run


def fits_the_screen(page) -> bool:
    """Whether nothing on the page is wider than the window (no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def cut_off_buttons(page) -> list[str]:
    """The words of the shown buttons whose text does not fit them (cut short with '…')."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stButton"] button')]
        .filter(b => b.offsetWidth && [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth))
        .map(b => b.innerText)""")


def test_a_latin_1_text_file_and_an_overfitted_run_read_plainly_on_a_phone(home, tmp_path):
    posts = [f"Post number {i}: the café served a crème brûlée that was {'lovely' if i % 2 else 'awful'} today"
             for i in range(150)]
    frame = pd.DataFrame({"text": posts, "confidence": [None if i % 3 else 0.5 for i in range(150)],
                          "sentiment": ["good" if i % 2 else "bad" for i in range(150)]})
    path = tmp_path / "posts.csv"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    dashboard = Dashboard(home).start()
    try:
        with browser_page(width=PHONE, height=800) as page:
            page.goto(f"{dashboard.url}/datasets")
            wait_idle(page)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
            page.get_by_role("button", name="Add data set").click(timeout=120_000)
            page.get_by_text("Added 'posts'").wait_for(timeout=120_000)
            wait_idle(page)
            assert_no_exception(page)
            text = page.locator("section.main, [data-testid='stMain']").first.inner_text()
            assert "Western European text" in text  # cp1252, the superset of Latin-1 that Windows writes
            assert "confidence" not in " ".join(
                line for line in text.splitlines() if "missing" in line.lower() or "empty" in line.lower())
            assert fits_the_screen(page)

            # A table's fixes: each button shows its words whole, on a phone too.
            shop = make_table(60)
            shop.loc[::7, "colour"] = None
            shop.to_csv(tmp_path / "shop.csv", index=False)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tmp_path / "shop.csv"))
            page.get_by_role("button", name="Add data set").click(timeout=120_000)
            page.get_by_text("Added 'shop'").wait_for(timeout=120_000)
            wait_idle(page)
            assert page.get_by_role("button", name="Fill with the most common value").first.is_visible()
            assert not cut_off_buttons(page)
            assert fits_the_screen(page)
            page.set_viewport_size({"width": 1400, "height": 900})  # side by side on a wide screen, still whole
            page.wait_for_timeout(500)
            assert not cut_off_buttons(page)
            page.set_viewport_size({"width": PHONE, "height": 800})

            run = overfitted_ratings_run()
            page.goto(f"{dashboard.url}/run?run={run['id']}")
            wait_idle(page)
            note = page.get_by_text("The validation error was lowest at epoch 2 (0.8945) and ended at 0.974")
            note.first.wait_for()
            assert page.get_by_role("button", name="Train again, keeping the best epoch").is_visible()
            assert_no_exception(page)
            assert fits_the_screen(page)
            # the chart tools run down the side, clear of the chart's title
            overlap = page.evaluate("""() => {
                const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
                const bar = plot && plot.querySelector('.modebar');
                const title = plot && plot.querySelector('.gtitle');
                if (!bar || !title) return false;
                const a = bar.getBoundingClientRect(), b = title.getBoundingClientRect();
                return !(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top);
            }""")
            assert not overlap
            # Short figures go two abreast; the learning rate's chart is folded below the loss and error curves.
            tops = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                .map(m => Math.round(m.getBoundingClientRect().top))""")
            assert len(tops) >= 2 and tops[0] == tops[1], tops
            assert page.locator('[data-testid="stPlotlyChart"]:visible').count() == 2
            page.get_by_text("How training went: learning rate, speed and memory").click()
            page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for(state="visible")
    finally:
        dashboard.stop()
        stop_workers(home)
