"""A real hub (``python -m edgeloop hub serve``) in a subprocess on a loopback port, for tests and
benchmarks: kill -9 it, restart it, read its log."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HubServer:
    """``edgeloop hub serve`` on ``127.0.0.1:<port>`` with its stdout/stderr in ``log_path``."""

    def __init__(
        self,
        data_dir: Path,
        db_url: str | None = None,
        blobs_url: str | None = None,
        workers: int = 1,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.db_url = db_url
        self.blobs_url = blobs_url
        self.workers = workers
        self.extra_args = extra_args
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-hub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.tokens: list[str] = []  # device tokens handed out through add_device

    def leaked_tokens(self) -> list[str]:
        """Tokens (admin and devices') whose value appears in the server's log: must be none."""
        log = self.log()
        known = [*self.tokens, self.admin_token] if (self.data_dir / "admin.token").exists() else self.tokens
        return [f"{t[:4]}..." for t in known if t in log]

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "edgeloop", "hub", "serve", "--data", str(self.data_dir)]
        args += ["--port", str(self.port), "--workers", str(self.workers)]
        if self.db_url:
            args += ["--db", self.db_url]
        if self.blobs_url:
            args += ["--blobs", self.blobs_url]
        return args + list(self.extra_args)

    def start(self, timeout_s: float = 60.0) -> HubServer:
        """Start the process and wait until /healthz answers."""
        env = {**os.environ, **self.env, "EDGELOOP_LOG": "info", "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it until it exits
        # Its own process group, so kill() takes uvicorn's worker processes down with it.
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.request("GET", "/healthz", token=None)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"hub did not answer /healthz within {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """kill -9 the hub and its worker processes (its process group)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then kill if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = "admin",
        timeout_s: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request: (status, headers lower-cased, body). ``token="admin"`` sends the admin token."""
        sent = dict(headers or {})
        if token == "admin":
            token = self.admin_token
        if token:
            sent["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
        try:
            conn.connect()
            # http.client writes headers and body separately: without NODELAY, Nagle's algorithm and
            # delayed ACKs add ~40 ms to each request.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(
        self, method: str, path: str, payload: Any = None, token: str | None = "admin"
    ) -> tuple[int, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, _, data = self.request(method, path, body, {"Content-Type": "application/json"}, token)
        return status, json.loads(data) if data else None

    def add_device(self, name: str, group: str = "default") -> str:
        """Register ``name`` through the admin API; its token."""
        status, body = self.json("POST", "/api/v1/devices", {"name": name, "group": group})
        if status != 201:
            raise RuntimeError(f"adding device {name}: {status} {body}")
        token: str = body["token"]
        self.tokens.append(token)
        return token

    def upload(
        self, token: str, image: bytes, meta: dict[str, Any], key: str | None = None
    ) -> tuple[int, Any]:
        """POST /api/v1/samples with ``Idempotency-Key`` (default: the image's sha256)."""
        key = hashlib.sha256(image).hexdigest() if key is None else key
        body, content_type = multipart(
            [("meta", json.dumps(meta).encode(), None), ("image", image, "image.jpg")]
        )
        headers = {"Content-Type": content_type, "Idempotency-Key": key}
        status, _, data = self.request("POST", "/api/v1/samples", body, headers, token)
        return status, json.loads(data) if data else None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def multipart(parts: list[tuple[str, bytes, str | None]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, bytes, filename or None) parts, and its content type."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, data, filename in parts:
        out += f"--{boundary}\r\n".encode()
        if filename is None:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        else:
            out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
            out += b"Content-Type: application/octet-stream\r\n\r\n"
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
