"""What flows through a pipeline: frames, events and per-frame results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from edgeloop.imaging import ImageArray
from edgeloop.types import Detections, IntArray


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        source: the source's name (also the MQTT topic suffix and JSONL ``source``).
        index: position in the source (for files, the frame number in the file).
        image: HxWx3 uint8 BGR.
        captured_s: ``time.monotonic()`` when decoding finished (for latency).
        decode_s: seconds spent reading and decoding this frame.
        pts_s: position in the video in seconds, when the source knows it.
    """

    source: str
    index: int
    image: ImageArray
    captured_s: float
    decode_s: float = 0.0
    pts_s: float | None = None


@dataclass(frozen=True)
class Event:
    """Something that happened: a source lost or back, a zone entered, a line crossed.

    Attributes:
        kind: e.g. ``source_lost``, ``source_reconnected``, ``zone_enter``, ``zone_exit``,
            ``line_cross``.
        source: the source's name.
        data: JSON-serialisable details (``gap_s``, ``zone``, ``tracker_id``, ...).
        wall_time: Unix time of the event.
    """

    kind: str
    source: str
    data: dict[str, Any] = field(default_factory=dict)
    wall_time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "source": self.source, "time": round(self.wall_time, 3), **self.data}


@dataclass(frozen=True)
class ZoneState:
    """A zone as drawn on a frame: its polygon (image pixels) and counts so far."""

    name: str
    polygon: tuple[tuple[float, float], ...]
    occupancy: int
    entries: int


@dataclass(frozen=True)
class LineState:
    """A counting line as drawn on a frame: its end points (image pixels) and crossings so far."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    in_count: int
    out_count: int


@dataclass(frozen=True)
class Overlay:
    """Zones and lines with their live counts, for sinks that draw (the video sink)."""

    zones: tuple[ZoneState, ...] = ()
    lines: tuple[LineState, ...] = ()


@dataclass
class FrameResult:
    """A frame with its detections, tracker ids and the events it caused.

    Attributes:
        tracker_id: (N,) int32 aligned with ``detections`` when tracking runs; -1 = untracked.
        infer_s: seconds the Predictor spent (preprocess + inference + decode of outputs).
        overlay: the zones and lines with their counts after this frame, when zones are configured.
        model: the version that answered (its key), when the run follows a models folder.
    """

    frame: Frame
    detections: Detections
    infer_s: float
    tracker_id: IntArray | None = None
    events: list[Event] = field(default_factory=list)
    overlay: Overlay | None = None
    model: str | None = None

    def to_json(self) -> dict[str, Any]:
        """One detection wire-format record plus ``source``, ``frame`` and tracker ids."""
        height, width = self.frame.image.shape[:2]
        record = self.detections.to_json((width, height), self.infer_s)
        if self.tracker_id is not None:
            for prediction, tid in zip(record["predictions"], self.tracker_id.tolist(), strict=True):
                prediction["tracker_id"] = tid
        out: dict[str, Any] = {"source": self.frame.source, "frame": self.frame.index}
        if self.frame.pts_s is not None:
            out["pts"] = round(self.frame.pts_s, 3)
        if self.model is not None:
            out["model"] = self.model
        return {**out, **record}
