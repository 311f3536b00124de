"""A load generator for ``edgeloop serve``: N clients posting one image in a loop.

Each client is a thread with its own keep-alive connection (``http.client``:
no pool, no retries, so every failure is seen). Every request is kept with its
start time, latency, status and the version that answered
(``X-Model-Version``), so a percentile can be taken over any time span: the
steady state, or the seconds around a switch.

    with LoadGen(url, "colour", jpeg, clients=16) as load:
        ...  # switch versions
    report = load.report()
    assert report.failed == 0
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import numpy as np

VERSION_HEADER = "X-Model-Version"


@dataclass(frozen=True)
class Request:
    """One request: ``start`` is ``time.monotonic()`` when it was sent."""

    start: float
    latency_s: float
    status: int  # 0: no response (connection error, timeout)
    version: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Report:
    """Every request of a run, in start order."""

    requests: list[Request] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.requests)

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.requests)

    def failures(self, limit: int = 5) -> list[str]:
        """The first failures, as lines a person can read."""
        return [f"status {r.status} at {r.start:.3f}: {r.error}" for r in self.requests if not r.ok][:limit]

    def between(self, start: float, end: float) -> list[Request]:
        """Requests that were in flight at some moment of [start, end]."""
        return [r for r in self.requests if r.start <= end and r.start + r.latency_s >= start]

    def percentile(self, q: float, start: float = float("-inf"), end: float = float("inf")) -> float:
        """The ``q``-th percentile latency in ms of requests in flight during [start, end] (nan if none)."""
        latencies = [r.latency_s * 1000 for r in self.between(start, end) if r.ok]
        return float(np.percentile(latencies, q)) if latencies else float("nan")

    def versions(self) -> list[str]:
        """The version that answered each successful request, in completion order."""
        done = sorted((r for r in self.requests if r.ok), key=lambda r: r.start + r.latency_s)
        return [r.version for r in done]


class LoadGen:
    """``clients`` threads posting ``body`` to ``/v1/models/<model>/predict`` until ``stop()``."""

    def __init__(
        self,
        url: str,
        model: str,
        body: bytes,
        clients: int = 16,
        content_type: str = "image/jpeg",
        timeout_s: float = 30.0,
        think_s: float = 0.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.path = f"/v1/models/{urllib.parse.quote(model)}/predict"
        self.body = body
        self.headers = {"Content-Type": content_type, "Connection": "keep-alive"}
        self.clients = clients
        self.timeout_s = timeout_s
        self.think_s = think_s
        self._stop = threading.Event()
        self._results: list[list[Request]] = [[] for _ in range(clients)]
        self._threads = [
            threading.Thread(target=self._client, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(clients)
        ]

    def start(self) -> LoadGen:
        for thread in self._threads:
            thread.start()
        return self

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def _client(self, index: int) -> None:
        out = self._results[index]
        connection = self._connect()
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                connection.request("POST", self.path, self.body, self.headers)
                response = connection.getresponse()
                data = response.read()
                status, version = response.status, response.getheader(VERSION_HEADER, "")
                error = "" if 200 <= status < 300 else data[:300].decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as exc:
                status, version, error = 0, "", f"{type(exc).__name__}: {exc}"
                connection.close()
                connection = self._connect()
            out.append(Request(start, time.monotonic() - start, status, version, error))
            if self.think_s:
                self._stop.wait(self.think_s)
        connection.close()

    def stop(self) -> Report:
        """Stop every client (each finishes its request in flight) and return the report."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 5)
        return self.report()

    def report(self) -> Report:
        """What was measured so far (complete once stopped)."""
        requests = [r for results in self._results for r in list(results)]
        return Report(sorted(requests, key=lambda r: r.start))

    def __enter__(self) -> LoadGen:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
