"""A real PostgreSQL server on a loopback port for tests (Debian's ``postgresql`` package).

Root cannot run ``initdb``, so as root every server command runs as the
``postgres`` user, in a ``mktemp`` folder handed to that user (pytest's
temporary folders are mode 0700 for root, out of its reach). Without root the
commands run as the current user. The server trusts local connections: it
listens on 127.0.0.1 only and lives as long as the test that started it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from edgeloop.testing.components import (
    ComponentMissing,
    ServerFailed,
    free_port,
    give_to,
    is_root,
    log_tail,
    system_user,
)

APT_PACKAGE = "postgresql"
PG_ROOT = Path("/usr/lib/postgresql")  # Debian's versioned installs: PG_ROOT/<major>/bin
StopMode = Literal["smart", "fast", "immediate"]


def postgres_bindir() -> Path:
    """The newest ``PG_ROOT/*/bin`` holding initdb and pg_ctl, else the ones on PATH."""
    versions = sorted(
        PG_ROOT.glob("*/bin"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0],
    )
    for bindir in reversed(versions):
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    raise ComponentMissing("PostgreSQL server (initdb, pg_ctl)", f"apt-get install {APT_PACKAGE}")


def _plain_url(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` (what psycopg itself reads)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; ``start``/``stop``/``restart``/``kill`` it at will.

    Use as a context manager (``with PostgresServer() as pg: pg.url``); the
    data folder is removed on exit.
    """

    def __init__(self, fsync: bool = False, port: int | None = None) -> None:
        self.bindir = postgres_bindir()
        self.fsync = fsync
        self.port = port or free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.root: Path | None = None
        if is_root() and system_user("postgres") is None:
            raise ComponentMissing("the postgres system user", f"apt-get install {APT_PACKAGE}")

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server not initialised: call start() first"
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "server not initialised: call start() first"
        return self.root / "log"

    def _run(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        user = "postgres" if is_root() else None  # root cannot run initdb or the server
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=self.root,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )

    def _init(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="edgeloop-pg-"))
        give_to(self.root, "postgres")
        args = ["initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        result = self._run(*args, *([] if self.fsync else ["--no-sync"]), timeout_s=120.0)
        if result.returncode != 0:
            raise ServerFailed(f"initdb failed:\n{result.stderr[-2000:]}")

    def is_running(self) -> bool:
        """Whether the postmaster of this cluster is alive (a killed one leaves its pid file behind)."""
        pid = self.postmaster_pid() if self.root is not None else None
        return pid is not None and _alive(pid)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server (creating the cluster the first time); returns when it accepts connections.

        Does nothing while the server runs.
        """
        if self.root is None:
            self._init()
        elif self.is_running():
            return
        options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1"]
        if not self.fsync:
            # Not synchronous_commit=off: a commit must still survive kill -9 of the server (the WAL
            # reaches the OS at commit); fsync=off only gives up durability against an OS crash.
            options += ["-c fsync=off", "-c full_page_writes=off"]
        result = self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
            "-t", str(int(timeout_s)), "-o", " ".join(options), "start",
            timeout_s=timeout_s + 10,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerFailed(
                f"PostgreSQL did not start on port {self.port}:\n{result.stderr[-1000:]}\n"
                f"{log_tail(self.log_path)}"
            )

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server; ``immediate`` is a crash as far as the data is concerned (recovery at start)."""
        if self.root is None or not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self, timeout_s: float = 30.0) -> None:
        """``kill -9`` the postmaster, then wait for its backends to go so that ``start`` works again."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        # A zombie postmaster still "exists" for PostgreSQL's lock-file check: wait until it is reaped.
        while time.monotonic() < deadline and (
            Path(f"/proc/{pid}").exists() or _backends_alive(self.data_dir)
        ):
            time.sleep(0.05)

    def create_database(self, prefix: str = "hub") -> str:
        """Create an empty database with a random name; returns its SQLAlchemy URL."""
        return fresh_database(self.url, prefix)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _backends_alive(data_dir: Path) -> bool:
    """Whether any process still runs with ``data_dir`` on its command line (the orphaned backends)."""
    needle = str(data_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if needle in cmdline and stat.rsplit(")", 1)[-1].split()[0] != "Z":
            return True
    return _socket_held(data_dir)


def _socket_held(data_dir: Path) -> bool:
    # Backends carry "postgres: ..." titles without the data dir; the shared memory they hold is what
    # blocks a restart, and the postmaster.pid's shmem key tells us whether any process still has it.
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        key = int(lines[6].split()[0]) if len(lines) > 6 else None
    except (OSError, ValueError, IndexError):
        return False
    if key is None:
        return False
    try:
        table = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return False
    for row in table:
        fields = row.split()
        if len(fields) > 6 and int(fields[0]) == key:
            return int(fields[6]) > 0  # nattch
    return False


@contextlib.contextmanager
def postgres_server(fsync: bool = False) -> Iterator[str]:
    """A PostgreSQL server on a free loopback port; yields ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``.

    Raises ComponentMissing without the server binaries (fixtures turn that into a skip,
    or a failure under CI=true).
    """
    with PostgresServer(fsync=fsync) as server:
        yield server.url


def fresh_database(server_url: str, prefix: str = "hub") -> str:
    """Create an empty database on the server at ``server_url``; returns its URL (one per test)."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(_plain_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name
