"""Annotated video sink: an mp4 per source with boxes, labels and tracker ids drawn, and with
zones, lines and their live counts when the run has zones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeloop.errors import SinkError
from edgeloop.imaging import draw_detections
from edgeloop.optional import require_opencv
from edgeloop.stream.frames import FrameResult
from edgeloop.stream.overlay import draw_overlay
from edgeloop.stream.sinks.base import Sink

cv2 = require_opencv("the video sink", "stream")


class VideoSink(Sink):
    """Writes MPEG-4 (``mp4v``) mp4 files, which need no GPL encoder and play everywhere.

    With several sources, ``out.mp4`` becomes ``out-cam0.mp4``, ``out-cam1.mp4``...

    Args:
        fps: frame rate written in the file (default: the source's, else 25).
    """

    def __init__(self, path: str | Path, sources: dict[str, float | None], fps: float | None = None) -> None:
        self.path = Path(path)
        self.sources = sources
        self.fps = fps
        self._writers: dict[str, Any] = {}

    @classmethod
    def from_target(cls, target: str, sources: dict[str, float | None]) -> VideoSink:
        return cls(target, sources)

    def path_for(self, source: str) -> Path:
        if len(self.sources) <= 1:
            return self.path
        return self.path.with_name(f"{self.path.stem}-{source}{self.path.suffix}")

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _writer(self, source: str, width: int, height: int) -> Any:
        writer = self._writers.get(source)
        if writer is None:
            path = self.path_for(source)
            fps = self.fps or self.sources.get(source) or 25.0
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                raise SinkError(f"video sink: cannot write {path}; check the folder exists and is writable")
            self._writers[source] = writer
        return writer

    def write(self, result: FrameResult) -> None:
        image = draw_detections(result.frame.image, result.detections)
        if result.tracker_id is not None:
            for (x1, _, _, y2), tid in zip(
                result.detections.xyxy.tolist(), result.tracker_id.tolist(), strict=True
            ):
                if tid >= 0:
                    cv2.putText(image, f"#{tid}", (int(x1) + 2, int(y2) - 4), 0, 0.5, (255, 255, 255), 1)
        if result.overlay is not None:
            draw_overlay(image, result.overlay)
        height, width = image.shape[:2]
        self._writer(result.frame.source, width, height).write(image)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.release()  # writes the mp4 index: without it the file does not play
        self._writers.clear()
