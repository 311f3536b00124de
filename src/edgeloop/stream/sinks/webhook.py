"""Webhook sink: HTTP POSTs of events (and frames with detections) with retries and a bounded backlog."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from typing import Any

from edgeloop.errors import SinkError
from edgeloop.stream.frames import Event, FrameResult
from edgeloop.stream.sinks.base import Sink


class WebhookSink(Sink):
    """A sender thread posts JSON records; when the receiver is slow or down the backlog is bounded.

    When the backlog is full the oldest record is dropped (counted in ``dropped``).

    Args:
        url: ``http://`` or ``https://`` endpoint.
        frames: also post frame records that have at least one detection.
        retries: attempts per record after the first, with exponential backoff from 0.2 s.
        flush_timeout_s: at close, wait at most this long for the backlog to drain.
    """

    def __init__(
        self,
        url: str,
        frames: bool = True,
        backlog: int = 1000,
        retries: int = 3,
        timeout_s: float = 2.0,
        flush_timeout_s: float = 0.5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise SinkError(f"webhook sink: {url!r} is not an http:// or https:// URL")
        self.url = url
        self.frames = frames
        self.retries = retries
        self.timeout_s = timeout_s
        self.flush_timeout_s = flush_timeout_s
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        if self._thread is None:
            self._closing.clear()
            self._thread = threading.Thread(target=self._send_loop, name="webhook", daemon=True)
            self._thread.start()

    def _enqueue(self, record: dict[str, Any]) -> None:
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(record)
            self._cond.notify()

    def write(self, result: FrameResult) -> None:
        if self.frames and len(result.detections):
            self._enqueue(result.to_json())

    def event(self, event: Event) -> None:
        self._enqueue(event.to_json())

    def _post(self, record: dict[str, Any]) -> bool:
        body = json.dumps(record).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"}, method="POST")
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            if self._closing.wait(0.2 * 2**attempt):
                return False
        return False

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing.is_set():
                    self._cond.wait(0.1)
                if not self._queue:
                    return
                record = self._queue[0]
            ok = self._post(record)
            with self._cond:
                if self._queue and self._queue[0] is record:
                    self._queue.popleft()
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        deadline = time.monotonic() + self.flush_timeout_s
        while self._queue and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.02)
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
