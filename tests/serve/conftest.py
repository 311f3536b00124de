"""A real `edgeloop serve` process on a loopback port, started and stopped by the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edgeloop.bundle import Bundle


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_server(bundles: list[Path], log: Path, *args: str, port: int | None = None) -> Server:
    port = port or free_port()
    handle = open(log, "w")  # noqa: SIM115 - the process owns it until it exits
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeloop", "serve", *map(str, bundles), "--port", str(port), *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "EDGELOOP_TOKEN": ""},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


@pytest.fixture(scope="session")
def server(
    yolo_bundle: Bundle, classify_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve") / "server.log"
    srv = start_server([yolo_bundle.root, classify_bundle.root], log)
    yield srv
    srv.stop()
