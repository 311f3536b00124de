"""The demo's hub: ``edgeloop hub serve`` in its own process (SQLite and a blob folder in one data
folder, a loopback port, the in-process job worker, the demo's signing keys), and a small JSON
client with the admin token."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgeloop.errors import EdgeloopError


class DemoError(EdgeloopError):
    """A step of the demo's field round failed; the message names the step and its log."""


def edgeloop_cmd(*args: str) -> list[str]:
    """The command line running ``edgeloop ARGS`` with this Python (the same environment)."""
    return [sys.executable, "-m", "edgeloop", *args]


def run_cli(*args: str, log: Path, timeout_s: float = 600.0, env: dict[str, str] | None = None) -> str:
    """Run ``edgeloop ARGS`` to its end, its output appended to ``log``; its stdout.

    Raises:
        DemoError: it failed (the message quotes the end of its output).
    """
    result = subprocess.run(
        edgeloop_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
    )
    with open(log, "a") as fh:
        fh.write(f"$ edgeloop {' '.join(args)}\n{result.stderr}{result.stdout}\n")
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise DemoError(
            f"edgeloop {args[0]} {args[1] if len(args) > 1 else ''} failed:\n{tail}\n(log: {log})"
        )
    return result.stdout


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Hub:
    """``edgeloop hub serve --data DATA --keys KEYS --port PORT`` in a child process group."""

    def __init__(self, data: Path, keys: Path, port: int = 0) -> None:
        self.data = data
        self.keys = keys
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def serve_args(self) -> list[str]:
        return ["hub", "serve", "--data", str(self.data), "--keys", str(self.keys), "--port", str(self.port)]

    def start(self, timeout_s: float = 120.0) -> Hub:
        """Start the hub and wait until ``/healthz`` answers."""
        self.data.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                edgeloop_cmd(*self.serve_args()),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # its own group: stop() takes uvicorn's children with it
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DemoError(f"the hub exited with {self.proc.returncode}; its log: {self.log}")
            with contextlib.suppress(OSError):
                if self.request("GET", "/healthz", token=None)[0] == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise DemoError(f"the hub did not answer within {timeout_s:.0f} s; its log: {self.log}")

    def stop(self) -> None:
        """SIGTERM the hub's process group; SIGKILL it after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    @property
    def admin_token(self) -> str:
        return (self.data / "admin.token").read_text().strip()

    def request(
        self, method: str, path: str, body: bytes | None = None, token: str | None = "admin"
    ) -> tuple[int, bytes]:
        """One request (``token="admin"``: the admin token): (status, body)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token == "admin":
            token = self.admin_token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, payload: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        """A JSON request with the admin token; its decoded answer.

        Raises:
            DemoError: the status is not in ``expect``.
        """
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body)
        if status not in expect:
            raise DemoError(f"{method} {path}: {status} {data[:500].decode(errors='replace')}")
        return json.loads(data) if data else None

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
