"""The command line against hostile or mistaken input (issue #21): a plain message and exit code 2, never a
traceback, and nothing secret printed."""

from __future__ import annotations

import json

import pytest

from db import repo
from engine.data.ingest import add_dataset, datasets_dir
from engine.errors import DataError
from tests.conftest import cli, make_table
from tests.factories import make_dataset, make_run


def assert_plain(done, *words: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


@pytest.fixture
def pg_with_password(postgres_url, tmp_path, monkeypatch):
    """A fresh PostgreSQL database whose address holds a password (the test server trusts any)."""
    url = postgres_url.replace("postgresql+psycopg://trainyard@", "postgresql+psycopg://trainyard:s3cr3t-pw@")
    monkeypatch.setenv("TRAINYARD_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TRAINYARD_AUTO_WORKER", "0")
    from sqlalchemy import text

    from db.session import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS optuna CASCADE"))
    return url


@pytest.mark.slow
def test_init_json_hides_the_database_password(pg_with_password):
    done = cli("init", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert "s3cr3t-pw" not in done.stdout + done.stderr
    assert document["database"].startswith("postgresql+psycopg://trainyard:***@")


def test_a_nul_in_a_name_is_refused_before_it_reaches_the_database(pg_with_password, tmp_path):
    from db.session import migrate
    from engine.cli import main

    migrate()
    path = tmp_path / "table.csv"
    make_table().to_csv(path, index=False)
    with pytest.raises(DataError, match="invisible NUL character"):
        add_dataset(path, name="shop\x00data")
    assert repo.list_datasets() == [] and list(datasets_dir().iterdir()) == []
    assert main(["datasets", "show", "shop\x00data"]) == 2
    assert main(["train", "--dataset", "1", "--name", "run\x00one"]) == 2


@pytest.mark.slow
def test_an_unreachable_database_is_a_plain_message_without_its_password(home):
    done = cli("datasets", "list", env={"DATABASE_URL": "postgresql+psycopg://me:s3cr3t-pw@127.0.0.1:9/nothing"})
    message = assert_plain(done, "Could not reach the database at postgresql+psycopg://me:***@127.0.0.1:9/nothing",
                           "DATABASE_URL")
    assert "s3cr3t-pw" not in message
    done = cli("datasets", "list", env={"DATABASE_URL": "not an address"})
    assert_plain(done, "is not a database address Trainyard can use")


@pytest.mark.slow
def test_a_bad_size_setting_is_a_plain_message(home, tmp_path):
    path = tmp_path / "table.csv"
    make_table().to_csv(path, index=False)
    for value in ("lots", "-1", "nan", "0"):
        done = cli("datasets", "add", str(path), env={"TRAINYARD_MAX_FILE_MB": value})
        assert_plain(done, f"TRAINYARD_MAX_FILE_MB='{value}' is not a positive number")
    done = cli("datasets", "add", str(path), env={"TRAINYARD_MAX_TABLE_ROWS": "many"})
    assert_plain(done, "TRAINYARD_MAX_TABLE_ROWS='many' is not a positive number")
    assert repo.list_datasets() == []


@pytest.mark.slow
def test_runs_list_with_limit_zero_is_refused_in_words(home):
    make_run(make_dataset("d"), accuracy=0.5)
    for limit in ("0", "-3"):
        assert_plain(cli("runs", "list", "--limit", limit), f"'--limit {limit}' lists no runs")
    assert cli("runs", "list", "--limit", "1", "--json").returncode == 0


@pytest.mark.slow
def test_runs_compare_with_an_unknown_metric_names_the_ones_there_are(home):
    dataset = make_dataset("d")
    first, second = make_run(dataset, accuracy=0.8), make_run(dataset, accuracy=0.6)
    done = cli("runs", "compare", str(first["id"]), str(second["id"]), "--metric", "nope")
    message = assert_plain(done, "None of these runs has a result called 'nope'", "val_accuracy", "test_accuracy")
    assert "run None" not in message
    done = cli("runs", "compare", str(first["id"]), str(second["id"]), "--metric", "val_accuracy", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["best_run"] == first["id"]


@pytest.mark.slow
def test_a_data_set_named_with_digits_can_be_reached(home):
    only = make_dataset("5")  # id 1: no data set has the id 5, so the name is found
    assert json.loads(cli("datasets", "show", "5", "--json").stdout)["id"] == only["id"]
    for i in range(4):
        make_dataset(f"set {i}")  # ids 2 to 5
    done = cli("datasets", "show", "5", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["id"] == 5
    assert f"The data set named '5' has the id {only['id']}: use {only['id']} to choose it." in done.stderr
    shown = json.loads(cli("datasets", "show", str(only["id"]), "--json").stdout)
    assert shown["name"] == "5"
