"""Shared fixtures: every test gets its own TRAINYARD_HOME with a migrated SQLite file."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
APP = str(ROOT / "dashboard" / "app.py")
LOCAL = "http://127.0.0.1"  # the address a test client speaks to: the model service answers loopback names only


_MIGRATED: list[Path] = []  # a database this session migrated once, copied into every later home


def use_home(patch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Point Trainyard at a fresh, migrated SQLite home in folder, through patch (undone with it)."""
    patch.setenv("TRAINYARD_HOME", str(folder))
    patch.delenv("DATABASE_URL", raising=False)
    patch.setenv("TRAINYARD_AUTO_WORKER", "0")
    patch.delenv("TRAINYARD_SIGN_IN", raising=False)
    from db.access import use_actor_provider
    from db.session import database_url, migrate

    use_actor_provider(None)  # an earlier test's pages may have named who acts in this process
    database = Path(database_url().removeprefix("sqlite:///"))
    if _MIGRATED and _MIGRATED[0].exists() and not database.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_MIGRATED[0], database)  # the same file migrate() writes, in a few milliseconds
    else:
        migrate()
        if not _MIGRATED and database.exists():
            template = Path(tempfile.mkdtemp(prefix="trainyard-migrated-")) / database.name
            shutil.copyfile(database, template)
            _MIGRATED.append(template)
    return folder


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh, migrated Trainyard home for one test."""
    return use_home(monkeypatch, tmp_path)


def open_page(page: str, timeout: float = 60, **query):
    """Run the app in AppTest, then switch to views/<page>.py with query as its URL parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    for key, value in query.items():
        at.query_params[key] = str(value)
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def page_texts(at) -> str:
    """Give back every message, caption and markdown text an AppTest page shows, one per line, as a reader sees
    it: without the backslashes that keep user text from being read as Markdown."""
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [w.value for w in at.warning] + [c.value for c in at.caption]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def make_table(rows: int = 120, seed: int = 0, classes: int = 2) -> pd.DataFrame:
    """A small learnable table: the label depends on the inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    score = x1 + 0.5 * x2 + (colour == "red")
    cuts = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    label = np.array([f"class_{i}" for i in np.searchsorted(cuts, score)])
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "label": label})


@pytest.fixture
def table_csv(tmp_path) -> Path:
    path = tmp_path / "table.csv"
    make_table().to_csv(path, index=False)
    return path


def cli(*args: str, env: dict | None = None, timeout: float = 300, input: str | None = None
        ) -> subprocess.CompletedProcess:
    """Run `python -m engine ARGS` in a real process (input on its standard input) and give back the finished
    process."""
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, input=input)


def wait_until(predicate, timeout: float = 60, every: float = 0.2):
    """Give back predicate()'s first truthy value, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


SHAPES = ("circle", "square", "triangle")


def shape_picture(shape: str, rng: np.random.Generator, side: int = 40) -> Image.Image:
    """A grey picture of one outlined shape at a random place, size and shade: easy for eyes, hard for pixels."""
    picture = Image.new("L", (side, side), int(rng.integers(180, 256)))
    draw = ImageDraw.Draw(picture)
    size = int(rng.integers(side // 3, side // 2))
    x, y = (int(v) for v in rng.integers(2, side - size - 2, size=2))
    ink = int(rng.integers(0, 90))
    if shape == "circle":
        draw.ellipse([x, y, x + size, y + size], outline=ink, width=3)
    elif shape == "square":
        draw.rectangle([x, y, x + size, y + size], outline=ink, width=3)
    else:
        draw.polygon([(x + size // 2, y), (x, y + size), (x + size, y + size)], outline=ink, width=3)
    return picture


def shapes_zip(path: Path, per_class: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as archive:
        for shape in SHAPES:
            for i in range(per_class):
                buffer = io.BytesIO()
                shape_picture(shape, rng).save(buffer, format="PNG")
                archive.writestr(f"{shape}/{i:03d}.png", buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on a Unix socket, for the tests of one module; skipped, with the reason,
    where PostgreSQL's server programs are not installed (`apt-get install -y postgresql`; CI installs them)."""
    from bench.pg_server import server_programs, throwaway_postgres

    if server_programs() is None:
        pytest.skip("PostgreSQL is not installed here: run `apt-get install -y postgresql` to test it.")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("Needs `runuser` to start PostgreSQL as its own user.")
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def pg_home(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("TRAINYARD_AUTO_WORKER", "0")
    monkeypatch.delenv("TRAINYARD_SIGN_IN", raising=False)
    from sqlalchemy import text

    from db.access import use_actor_provider
    from db.session import get_engine, migrate

    use_actor_provider(None)  # an earlier test's pages may have named who acts in this process

    from engine.search import study

    with get_engine().begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS optuna CASCADE"))
    study._storage.cache_clear()  # the same URL as the last test's, whose study tables are gone
    migrate()
    return tmp_path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in this process (fast: torch is loaded already); give back (code, stdout, stderr)."""
    from engine.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def start_worker(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start `python -m engine worker ARGS` in a real process (its output is not kept: a full pipe would stop it)."""
    return subprocess.Popen([sys.executable, "-m", "engine", "worker", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def stop(process: subprocess.Popen) -> None:
    """Stop a worker as a person would (SIGTERM), and kill it if it has not stopped after 40 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


def status(run_id: int) -> str:
    from db import repo

    return repo.get_run(run_id)["status"]


def wait_for_status(run_id: int, *wanted: str, timeout: float = 60) -> str:
    """Give back the run's status once it is one of `wanted`; after timeout seconds, fail with what the run was
    doing instead (its status, last events and the end of its log), so that a failure far away can be read."""
    from db import repo
    from db.session import run_folder

    try:
        return wait_until(lambda: (now := status(run_id)) in wanted and now, timeout)
    except AssertionError:
        pass
    run = repo.get_run(run_id)
    events = "\n".join(f"  {event['message']}" for event in repo.list_events(run_id)[-12:])
    logs = "".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]) + "\n"
                   for log in sorted(run_folder(run_id).glob("*.log")))
    raise AssertionError(f"run {run_id} is {run['status']} (try {run['attempts']}, error {run['error']!r}), not "
                         f"{' or '.join(wanted)}, after {timeout} s.\nLast events:\n{events}\n{logs}")
