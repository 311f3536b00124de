"""JSONL sink: one detection record per frame and one record per event."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from edgeloop.errors import SinkError
from edgeloop.stream.frames import Event, FrameResult
from edgeloop.stream.sinks.base import Sink


class JsonlSink(Sink):
    """Writes whole lines only (one ``write`` call plus a flush each), to a file or ``-`` (stdout).

    Args:
        events: also write event records (``{"event": "zone_enter", ...}``).
    """

    def __init__(self, path: str | Path, events: bool = True) -> None:
        self.path = str(path)
        self.events = events
        self._file: IO[str] | None = None

    def open(self) -> None:
        if self._file is not None:
            return
        if self.path == "-":
            self._file = sys.stdout
            return
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 -- closed in close()
        except OSError as exc:
            raise SinkError(f"jsonl sink: cannot open {self.path}: {exc.strerror}") from None

    def _line(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise SinkError("jsonl sink: write before open; use it as a context manager")
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def write(self, result: FrameResult) -> None:
        self._line(result.to_json())

    def event(self, event: Event) -> None:
        if self.events:
            self._line(event.to_json())

    def close(self) -> None:
        if self._file is not None and self._file is not sys.stdout:
            self._file.close()
        self._file = None
