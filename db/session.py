"""Where the database lives, how to connect to it, and one transaction at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseNotReady(RuntimeError):
    """The database is missing its tables or is on an older schema revision."""


def trainyard_home() -> Path:
    """Give back the folder holding the SQLite file, data sets and run files ($TRAINYARD_HOME)."""
    home = Path(os.environ.get("TRAINYARD_HOME") or "./data").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def run_folder(run_id: int, create: bool = False) -> Path:
    """Give back the folder of a run's files (checkpoint, model, evaluation, exports, log): $TRAINYARD_HOME/runs/ID."""
    folder = trainyard_home() / "runs" / str(run_id)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def database_url() -> str:
    """Give back $DATABASE_URL, or the SQLite file inside $TRAINYARD_HOME."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{trainyard_home() / 'trainyard.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # Take the write lock at BEGIN, so two writers queue on busy_timeout instead of
    # failing with "database is locked" when a read transaction tries to upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")


def make_engine(url: str | None = None) -> Engine:
    """Give back a new Engine for url (default: database_url()) with SQLite set up for concurrency."""
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not the driver, decide when a transaction starts.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def _engine_for(url: str, pid: int) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """Give back this process's shared Engine for the configured database."""
    return _engine_for(database_url(), os.getpid())


@contextlib.contextmanager
def session_scope(write: bool = False) -> Iterator[Session]:
    """Open a session that commits on success, rolls back on error and always closes.

    write=True takes SQLite's write lock up front; use it for read-then-write transactions.
    """
    engine = get_engine()
    with engine.connect() as conn:
        conn.info["immediate"] = write
        session = Session(bind=conn, expire_on_commit=False)
        try:
            with conn.begin():
                yield session
                session.flush()
        finally:
            conn.info["immediate"] = False
            session.close()


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Give back the newest migration's revision (read from the migration files once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(database_url())).get_current_head()


def current_revision(engine: Engine | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = engine or get_engine()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Keep two processes that start at once from migrating the same database together."""
    if url.startswith("sqlite"):
        lock_path = trainyard_home() / ".migrate.lock"
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif url.startswith("postgresql"):
        engine = get_engine()
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(727274)")
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(727274)")
    else:
        yield


def migrate() -> str:
    """Bring the database to the newest schema; give back the revision it is on."""
    from alembic import command

    url = database_url()
    with _migration_lock(url):
        command.upgrade(_alembic_config(url), "head")
    return head_revision()


def ensure_ready() -> None:
    """Raise DatabaseNotReady with the command that fixes it unless the schema is current."""
    engine = get_engine()
    current = current_revision(engine)
    if current == head_revision():
        return
    if current is None and not inspect(engine).get_table_names():
        raise DatabaseNotReady(
            "The database has not been set up yet. Run `python -m engine init` (or `make run`) first."
        )
    raise DatabaseNotReady(
        f"The database is on an older version ({current or 'unknown'}) than this Trainyard "
        f"({head_revision()}). Run `python -m engine init` to update it; your data is kept."
    )
