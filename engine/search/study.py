"""Where a sweep's Optuna study lives and how it is loaded: its storage beside Trainyard's database, the lock that
lets one process at a time steer a sweep, and the sampler and pruner the sweep's settings choose.

The study's memory lives in Optuna's own tables, apart from Trainyard's so that neither's migrations touch the
other's (see `study_storage_url`). No torch here: the dashboard imports the sweep modules.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from db.session import database_url, get_engine, trainyard_home

OPTUNA_SCHEMA = "optuna"  # PostgreSQL: Optuna's tables live in this schema of Trainyard's database
LOCK_KEY = 727275  # PostgreSQL advisory locks: (LOCK_KEY, sweep id); the migration lock is 727274


def study_storage_url() -> tuple[str, dict[str, Any]]:
    """Give back the URL and engine options of Optuna's storage, derived from Trainyard's database URL.

    Optuna keeps its own Alembic version table, which would clash with Trainyard's `alembic_version`: on PostgreSQL
    its tables go to the schema `optuna` of the same database; with SQLite to a second file beside the first
    (`trainyard-sweeps.db`), which also keeps the two from waiting on one file's write lock.
    """
    url = database_url()
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        return f"sqlite:///{path.with_name(path.stem + '-sweeps.db')}", {"connect_args": {"timeout": 30}}
    if url.startswith("postgresql"):
        with get_engine().begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}")
        return url, {"connect_args": {"options": f"-csearch_path={OPTUNA_SCHEMA}"}, "pool_pre_ping": True}
    return url, {}


@lru_cache(maxsize=4)
def _storage(url: str, pid: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_url, options = study_storage_url()
    return optuna.storages.RDBStorage(study_url, engine_kwargs=options)


def storage():
    return _storage(database_url(), os.getpid())


@contextlib.contextmanager
def sweep_lock(sweep_id: int) -> Iterator[None]:
    """Let one process at a time tell a sweep's study about ended trials and queue new ones."""
    url = database_url()
    if url.startswith("postgresql"):
        with get_engine().connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({LOCK_KEY}, {int(sweep_id)})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_KEY}, {int(sweep_id)})")
                connection.commit()
    else:
        with open(trainyard_home() / f".sweep-{int(sweep_id)}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna marks some of what sweeps use (the constant liar) experimental; users need not read that."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _sampler(sweep: dict[str, Any], trials_so_far: int):
    import optuna

    # A new seed for each call: the sampler is made afresh each time a trial is asked for, and one seed would give
    # every trial the same first guess.
    seed = (sweep["id"] * 100_003 + trials_so_far) % 2**31
    if sweep["method"] in ("random", "grid"):  # a grid's trials are all queued in the study when it is made
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, sweep["trials"] // 4)),
                                      constant_liar=sweep["parallel"] > 1)


def _pruner(sweep: dict[str, Any], epochs: int):
    """The sweep's pruner. No trial is judged in its first quarter of epochs, where curves of good settings can still
    lag (hpc_jobs, 12 trials: judged from epoch 3 on, 6 of the first 10 trials stopped, one as good as the best)."""
    import optuna

    if sweep["pruner"] == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(2, min(5, sweep["trials"] // 4)),
                                           n_warmup_steps=max(2, epochs // 4))
    if sweep["pruner"] == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def load_study(sweep: dict[str, Any], trials_so_far: int = 0, epochs: int = 8):
    """Give back the sweep's study with its sampler (seeded for the trials_so_far-th ask) and its pruner (for trials
    of this many epochs)."""
    import optuna

    with _quiet():
        return optuna.load_study(study_name=sweep["study_name"], storage=storage(),
                                 sampler=_sampler(sweep, trials_so_far), pruner=_pruner(sweep, epochs))
