"""A throw-away PostgreSQL server on a loopback port (Debian's binaries), for the hub load run.

Used until ``edgeloop.testing.servers.postgres_server`` is available; same shape: a context
manager yielding ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeloop.testing.hub_server import free_port


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _as_postgres() -> dict[str, Any]:
    """subprocess arguments: root cannot run initdb, so run as the postgres user."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


@contextlib.contextmanager
def postgres_server(fsync: bool = True, max_connections: int = 200) -> Iterator[str]:
    """Start PostgreSQL in a temporary folder; yield its URL; stop it and remove the folder.

    Raises:
        RuntimeError: the binaries are missing (``apt-get install postgresql``) or it did not start.
    """
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="edgeloop-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    run = _as_postgres()
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        **run,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections={max_connections}"
    if not fsync:
        options += " -c fsync=off -c synchronous_commit=off"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    started = subprocess.run(
        [*pg_ctl, "-l", str(root / "log"), "-w", "-o", options, "start"], capture_output=True, **run
    )
    try:
        if started.returncode != 0:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.decode()}\n{log}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, **run)
        shutil.rmtree(root, ignore_errors=True)
