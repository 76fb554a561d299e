"""A throwaway PostgreSQL server for tests and benches: a fresh cluster in a temporary folder, reached over a
Unix socket only, removed with everything in it at the end. Needs PostgreSQL's server programs
(`apt-get install -y postgresql`); started as the `postgres` user when running as root."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def server_programs() -> str | None:
    """Give back the folder of initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@contextmanager
def throwaway_postgres(port: int = 54329) -> Iterator[str]:
    """Start a fresh PostgreSQL server; give back its SQLAlchemy URL; stop it and remove its files at the end."""
    bin_dir = server_programs()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server programs are not installed: run `apt-get install -y postgresql`.")
    as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if as_postgres and shutil.which("runuser") is None:
        raise RuntimeError("Starting PostgreSQL as root needs `runuser` to run it as its own user.")
    folder = tempfile.mkdtemp(prefix="trainyard-pg-")
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    data = os.path.join(folder, "data")
    subprocess.run(as_postgres + [f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U", "trainyard"],
                   check=True, capture_output=True)
    subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", f"{folder}/log", "-o",
                                  f"-p {port} -k {folder} -c listen_addresses='' -c max_connections=200", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://trainyard@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
