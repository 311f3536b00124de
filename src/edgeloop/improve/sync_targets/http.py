"""A small HTTP/1.1 client over ``http.client`` for the hub target: keep-alive, timeouts, paced bodies.

The body is written in chunks through a ``Throttle`` (the bandwidth cap). A
failure of the connection (refused, reset, timeout, TLS) raises
``TargetUnavailable``; when the server answers before reading the whole body
(e.g. a 401 or 413 on a large upload) and closes, the answer is still read.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from edgeloop.errors import ConfigError
from edgeloop.improve.bandwidth import Throttle
from edgeloop.improve.sync_targets.base import TargetUnavailable


@dataclass(frozen=True)
class Response:
    """A status, the headers (lower-case names) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (None when it is not)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error(self) -> str:
        """The hub's ``error`` (and ``fix``) text, or the start of the body."""
        data = self.json()
        if isinstance(data, dict) and "error" in data:
            fix = f" ({data['fix']})" if data.get("fix") else ""
            return f"{data['error']}{fix}"
        return self.body[:200].decode("utf-8", "replace").strip() or http.client.responses.get(
            self.status, ""
        )


class _StaleConnection(Exception):
    """The server closed the connection without an answer."""


class Client:
    """One keep-alive connection to ``base_url``; reopened after any failure.

    Args:
        base_url: ``http(s)://host[:port][/prefix]``.
        token: sent as ``Authorization: Bearer``; never part of an error message.
        timeout_s: connect and per-read/write timeout.
    """

    def __init__(self, base_url: str, token: str | None, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{base_url}: give the hub's URL, e.g. http://hub.local:8000")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.display = f"{parts.scheme}://{parts.netloc}{self.prefix}"
        self._token = token
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                context = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout_s, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        throttle: Throttle | None = None,
    ) -> Response:
        """Send one request and read the whole answer.

        A kept-alive connection that the server closed while idle (its keep-alive timeout)
        fails at once; the request then goes once more on a new connection. Every request
        here is safe to repeat: uploads carry their sha256, chunks their offset.

        Raises:
            TargetUnavailable: the connection failed or timed out.
        """
        closed = TargetUnavailable(f"{self.display}: the connection was closed before the answer")
        reused = self._conn is not None
        try:
            return self._request(method, path, body, headers, throttle)
        except _StaleConnection:
            if not reused:
                raise closed from None
        try:  # once more, on a new connection; it may be closed too (a reset, a hub going down)
            return self._request(method, path, body, headers, throttle)
        except _StaleConnection:
            raise closed from None

    def _request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Sequence[tuple[str, str]],
        throttle: Throttle | None,
    ) -> Response:
        conn = self._connection()
        done = False
        try:
            conn.putrequest(method, self.prefix + path, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if self._token:
                conn.putheader("Authorization", f"Bearer {self._token}")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            # The server may have answered early and closed (a 401 or 413 on a large body): read that.
            with contextlib.suppress(OSError):
                self._send_body(conn, body, throttle)
            answer = conn.getresponse()
            data = answer.read()
            response = Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
            if answer.will_close:
                self.close()
            done = True
            return response
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            raise _StaleConnection from None
        except (OSError, http.client.HTTPException) as exc:
            raise TargetUnavailable(f"{self.display}: {describe(exc)}") from None
        finally:
            if not done:
                self.close()

    @staticmethod
    def _send_body(conn: http.client.HTTPConnection, body: bytes, throttle: Throttle | None) -> None:
        view = memoryview(body)
        step = throttle.chunk_bytes if throttle is not None else 1 << 20
        for start in range(0, len(view), step):
            chunk = view[start : start + step]
            if throttle is not None:
                throttle.spend(len(chunk))
            conn.send(chunk)

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def describe(exc: BaseException) -> str:
    """A short reason for a failed connection."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the hub running, and is the URL right?)"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return "the connection was closed before the answer"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def multipart(parts: Sequence[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body from (field name, file name or "", content type, data) parts,
    and its Content-Type header value."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        chunks.append(head.encode())
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
