"""A real Mosquitto broker on a loopback port, optionally with users (password file) and an ACL.

Started as root, Mosquitto drops to the ``mosquitto`` user, so its folder and
files are handed to that user. A forbidden publish is dropped silently under
MQTT 3.1.1; a forbidden subscription is granted but receives nothing.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgeloop.testing.components import (
    ComponentMissing,
    ServerFailed,
    free_port,
    give_to,
    log_tail,
    stop_process,
    wait_port,
    which,
)


@dataclass(frozen=True)
class Broker:
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def _binaries(need_passwd: bool) -> tuple[str, str | None]:
    broker = which("mosquitto")
    passwd = which("mosquitto_passwd")
    if broker is None or (need_passwd and passwd is None):
        raise ComponentMissing("Mosquitto (mosquitto, mosquitto_passwd)", "apt-get install mosquitto")
    return broker, passwd


def _write_passwords(passwd_bin: str, path: Path, users: dict[str, str]) -> None:
    path.touch(mode=0o600)
    for user, password in users.items():
        result = subprocess.run(
            [passwd_bin, "-b", str(path), user, password], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise ServerFailed(f"mosquitto_passwd failed for user {user!r}: {result.stderr.strip()}")


@contextlib.contextmanager
def mosquitto_server(users: dict[str, str] | None = None, acl: str | None = None) -> Iterator[Broker]:
    """Mosquitto on a free loopback port; yields a Broker (``.port``, ``.url``).

    ``users`` (name -> password) turns anonymous access off; ``acl`` is the text of a
    Mosquitto ACL file (``user dev1`` / ``topic readwrite edgeloop/device/dev1/#``).
    """
    broker_bin, passwd_bin = _binaries(need_passwd=bool(users))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="edgeloop-mqtt-") as tmp:
        folder = Path(tmp)
        lines = [f"listener {port} 127.0.0.1", "persistence false", "log_dest stderr"]
        if users:
            assert passwd_bin is not None
            _write_passwords(passwd_bin, folder / "passwd", users)
            lines += ["allow_anonymous false", f"password_file {folder / 'passwd'}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (folder / "acl").write_text(acl + "\n", encoding="utf-8")
            (folder / "acl").chmod(0o600)
            lines.append(f"acl_file {folder / 'acl'}")
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for path in (folder, *folder.iterdir()):
            give_to(path, "mosquitto")
        log = folder / "log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [broker_bin, "-c", str(folder / "mosquitto.conf")], stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            try:
                wait_port(port)
            except TimeoutError:
                raise ServerFailed(f"Mosquitto did not start on port {port}:\n{log_tail(log)}") from None
            yield Broker(port)
        finally:
            stop_process(proc)
