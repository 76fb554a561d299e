"""Helpers for browser tests: start the dashboard like `make run`, drive it in headless Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, use_home

CHROMIUM = os.environ.get("TRAINYARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = ROOT / "test-artifacts"


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Browser tests need Debian's chromium: run `apt-get install -y chromium` as root "
                    "(CI does this in .ci/run).")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("Browser tests need the playwright package: run `make install-test`.")
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dashboard:
    """The dashboard started with `make run` on a free port, in its own process group."""

    def __init__(self, home: Path, port: int | None = None):
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Dashboard":
        env = {**os.environ, "TRAINYARD_HOME": str(self.home), "PORT": str(self.port)}
        env.pop("TRAINYARD_AUTO_WORKER", None)
        log = open(self.home / f"dashboard-{self.port}.log", "ab")
        self.process = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={self.port}"], cwd=ROOT,
                                        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.read().decode().strip() == "ok":
                        return self
            except OSError:
                time.sleep(0.3)
            if self.process.poll() is not None:
                break
        raise AssertionError("the dashboard did not start:\n" +
                             (self.home / f"dashboard-{self.port}.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None


def stop_workers(home: Path) -> None:
    """Stop the background workers the dashboard started for this home."""
    from db import repo

    for worker in repo.alive_workers(max_age_seconds=3600):
        try:
            os.kill(worker["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass


@contextmanager
def dashboard_in(tmp_path_factory, name: str):
    """A dashboard started with `make run` on a fresh home, stopped with its workers at the end."""
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp(name))
        started = Dashboard(home).start()
        try:
            yield started
        finally:
            started.stop()
            stop_workers(home)


@contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def wait_idle(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit is connected and no script is running (as Streamlit's own e2e helpers do)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=timeout)


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
