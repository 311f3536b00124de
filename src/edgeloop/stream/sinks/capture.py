"""Frame capture hook: keep frames worth labelling (the active-learning loop builds on this)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from edgeloop.errors import ImageError, SinkError
from edgeloop.imaging import encode_image
from edgeloop.stream.frames import FrameResult
from edgeloop.stream.sinks.base import Sink

Predicate = Callable[[FrameResult], bool]


def has_detections(result: FrameResult) -> bool:
    """The default predicate: any detection at all."""
    return len(result.detections) > 0


class CaptureSink(Sink):
    """Saves ``SOURCE-FRAME.png`` plus a ``.json`` with its detections when ``predicate`` says so.

    Files appear atomically (written under a temporary name, then renamed).

    Args:
        predicate: which frames to keep (replace it to plug in an active-learning sampler).
        min_interval_s: at most one capture per source per this many seconds.
        max_files: stop capturing after this many frames (disk budget).
    """

    def __init__(
        self,
        folder: str | Path,
        predicate: Predicate = has_detections,
        min_interval_s: float = 1.0,
        max_files: int = 1000,
    ) -> None:
        self.folder = Path(folder)
        self.predicate = predicate
        self.min_interval_s = min_interval_s
        self.max_files = max_files
        self.captured = 0
        self._last: dict[str, float] = {}

    def open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"capture sink: cannot create {self.folder}: {exc.strerror}") from None

    def write(self, result: FrameResult) -> None:
        source = result.frame.source
        now = time.monotonic()
        if self.captured >= self.max_files or now - self._last.get(source, -1e9) < self.min_interval_s:
            return
        if not self.predicate(result):
            return
        self._last[source] = now
        stem = self.folder / f"{source}-{result.frame.index:06d}"
        tmp = stem.with_suffix(".tmp.png")
        try:
            tmp.write_bytes(encode_image(result.frame.image, ".png"))
        except (OSError, ImageError) as exc:
            raise SinkError(
                f"capture sink: cannot write {tmp} ({exc}); check free space and permissions"
            ) from None
        os.replace(tmp, stem.with_suffix(".png"))
        meta = stem.with_suffix(".tmp.json")
        meta.write_text(json.dumps(result.to_json()))
        os.replace(meta, stem.with_suffix(".json"))
        self.captured += 1
