"""Finding the system components the tests start, and skipping (or failing under CI) without them.

``need`` skips a test when a component is missing, with the command that
installs it; under ``CI=true`` it fails the test instead, so a CI image that
lost a package cannot pass by skipping.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

from edgeloop.errors import EdgeloopError

INSTALL_HINT = "run `make test` as root, or scripts/system-deps.sh"


class ComponentMissing(EdgeloopError):
    """A system component a test server needs is not installed."""

    def __init__(self, name: str, install: str) -> None:
        self.name, self.install = name, install
        super().__init__(f"{name} missing: {install} ({INSTALL_HINT})")


class ServerFailed(EdgeloopError):
    """A test server was installed but did not start; the message carries the end of its log."""


def need(condition: bool, what: str) -> None:
    """Skip the calling test (or fail it under CI=true) unless ``condition`` holds."""
    if not condition:
        skip_missing(f"{what} missing: {INSTALL_HINT}")


def skip_missing(reason: ComponentMissing | str) -> NoReturn:
    """Skip the calling test for a missing component; fail it under CI=true."""
    import pytest  # only tests call this; pytest is a dev dependency

    message = str(reason)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on ``host:port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s} s")


def which(name: str, *extra_dirs: str) -> str | None:
    """``shutil.which`` that also looks in sbin folders (not on a non-root PATH) and ``extra_dirs``."""
    found = shutil.which(name)
    if found:
        return found
    for folder in (*extra_dirs, "/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def is_root() -> bool:
    return os.geteuid() == 0


def system_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def give_to(path: Path, user: str) -> None:
    """Hand ``path`` to a system user (root only), so a server that drops to that user can read it."""
    entry = system_user(user)
    if entry is not None and is_root():
        os.chown(path, entry.pw_uid, entry.pw_gid)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate a child process, killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
