"""The migrations build exactly the schema the models describe, and the app refuses an old one."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from db.models import Base
from db.session import DatabaseNotReady, ensure_ready, get_engine


def test_migrations_match_models(home):
    engine = get_engine()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert set(inspect(engine).get_table_names()) >= {
        "datasets", "runs", "metrics", "metric_summary", "artifacts", "run_events", "workers"}


def test_sqlite_runs_in_wal_with_foreign_keys(home):
    with get_engine().connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 10000


def test_status_check_constraint(home):
    from sqlalchemy.exc import IntegrityError

    from db import repo

    dataset = repo.create_dataset(name="d", kind="tabular", task="classification", target="y", n_rows=1,
                                  n_columns=2, schema={}, quality_report={}, files_path="/x", sha256="0" * 64)
    run = repo.create_run(dataset["id"], "mlp", {})
    with pytest.raises(IntegrityError):
        with get_engine().begin() as conn:
            conn.execute(text("UPDATE runs SET status='bogus' WHERE id=:id"), {"id": run["id"]})


def test_refuses_old_revision_with_the_fix(home):
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num='0000'"))
    with pytest.raises(DatabaseNotReady, match="python -m engine init"):
        ensure_ready()


def test_refuses_empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_HOME", str(tmp_path / "empty"))
    with pytest.raises(DatabaseNotReady, match="engine init"):
        ensure_ready()
