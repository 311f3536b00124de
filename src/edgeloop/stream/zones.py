"""Tracking, polygon zones and counting lines, configured from YAML.

Objects are tracked by ByteTrack from the maintained ``trackers`` package;
each tracked box is reduced to one anchor point (its centre, or the middle of
its bottom edge) and that point is tested against zones and lines:

- a zone emits ``zone_enter`` when a track's anchor moves inside it and
  ``zone_exit`` (with ``dwell_s``) when it leaves or the track is lost;
- a line emits ``line_cross`` with ``direction`` ``in`` or ``out`` when the
  anchor's path between two frames crosses the segment. Looking along the line
  from ``start`` to ``end`` on screen, crossing from its left to its right is
  ``in``: a line drawn left to right counts downward movement as ``in``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.errors import ConfigError
from edgeloop.stream.frames import Event, LineState, Overlay, ZoneState
from edgeloop.types import Detections, IntArray
from edgeloop.validation import format_validation_error

Point = tuple[float, float]


class ZoneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    polygon: list[Point] = Field(min_length=3, description="vertices in image pixels")
    classes: list[str] | None = None


class LineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    start: Point
    end: Point
    classes: list[str] | None = None


class TrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    activation_threshold: float = Field(0.5, ge=0, le=1, description="min confidence to start a track")
    lost_track_buffer: int = Field(30, ge=1, description="frames a lost track is kept for re-matching")
    min_iou: float = Field(0.1, ge=0, le=1)
    exit_after_frames: int = Field(5, ge=1, description="frames unseen before a track leaves its zones")
    warn_after_frames: int = Field(
        30, ge=1, description="frames with detections but no track before a 'warning' event"
    )


class ZonesConfig(BaseModel):
    """The zones YAML file."""

    model_config = ConfigDict(extra="forbid")
    anchor: Literal["center", "bottom_center"] = "center"
    zones: list[ZoneConfig] = []
    lines: list[LineConfig] = []
    tracker: TrackerConfig = TrackerConfig()


def load_zones(path: str | Path) -> ZonesConfig:
    """Read and validate a zones YAML file.

    Raises:
        ConfigError: unreadable file, bad YAML, or values that fail validation.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
        return ZonesConfig.model_validate(data or {})
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        problems = format_validation_error(exc, "key", prefix=str(path), model=ZonesConfig)
        raise ConfigError(f"{problems} (see docs/stream.md for the format)") from None


def _side(line: LineConfig, point: np.ndarray) -> float:
    (sx, sy), (ex, ey) = line.start, line.end
    return float((ex - sx) * (point[1] - sy) - (ey - sy) * (point[0] - sx))


def _crosses_segment(line: LineConfig, p0: np.ndarray, p1: np.ndarray) -> bool:
    """Whether the path p0 -> p1 (already known to change side) passes between start and end."""
    s, e = np.asarray(line.start), np.asarray(line.end)
    d, r, q = e - s, p1 - p0, p0 - s
    denom = d[0] * r[1] - d[1] * r[0]
    if denom == 0:
        return False
    u = (q[0] * r[1] - q[1] * r[0]) / denom  # p0 + t*r = s + u*d, solved for u
    return bool(0.0 <= u <= 1.0)


def inside_polygon(polygon: list[Point], point: np.ndarray) -> bool:
    """Even-odd ray casting; points on an edge may fall either way."""
    x, y, inside = float(point[0]), float(point[1]), False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _below(confidence: float) -> str:
    """A round threshold a little under ``confidence``, e.g. 0.47 -> 0.4, 0.41 -> 0.35."""
    return f"{max(0.05, np.floor(confidence * 20) / 20 - 0.05):.2f}".rstrip("0")


@dataclass
class _Untracked:
    """Detections seen before any track started (to warn when tracking never starts)."""

    frames: int = 0
    detections: int = 0
    max_confidence: float = 0.0
    tracked: bool = False
    warned: bool = False


@dataclass
class _Track:
    anchor: np.ndarray
    class_name: str
    last_frame: int
    zones: dict[str, float] = field(default_factory=dict)  # zone -> time entered


class ZoneCounter:
    """Tracks one source's detections and counts zone entries and line crossings."""

    def __init__(self, config: ZonesConfig, source: str, fps: float | None = None) -> None:
        try:
            from trackers import ByteTrackTracker
        except ImportError:
            raise ConfigError("zones and lines need tracking: pip install 'edgeloop[track]'") from None

        self.config = config
        self.source = source
        t = config.tracker
        self.tracker = ByteTrackTracker(
            lost_track_buffer=t.lost_track_buffer,
            frame_rate=fps or 30.0,
            track_activation_threshold=t.activation_threshold,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=t.min_iou,
            high_conf_det_threshold=t.activation_threshold,
        )
        self.tracks: dict[int, _Track] = {}
        self.frame = 0
        self.untracked = _Untracked()
        self.entries = {z.name: 0 for z in config.zones}
        self.crossings = {line.name: {"in": 0, "out": 0} for line in config.lines}

    def _anchors(self, xyxy: np.ndarray) -> np.ndarray:
        x = (xyxy[:, 0] + xyxy[:, 2]) / 2
        y = (xyxy[:, 1] + xyxy[:, 3]) / 2 if self.config.anchor == "center" else xyxy[:, 3]
        return np.stack([x, y], axis=1)

    def update(self, detections: Detections, time_s: float) -> tuple[Detections, IntArray, list[Event]]:
        """Track one frame's ``detections``; returns them (reordered) with tracker ids and events."""
        import supervision as sv

        tracked = self.tracker.update(
            sv.Detections(
                xyxy=detections.xyxy, confidence=detections.confidence, class_id=detections.class_id
            )
        )
        out = Detections(tracked.xyxy, tracked.confidence, tracked.class_id, detections.names)
        ids = np.asarray(tracked.tracker_id, dtype=np.int32).reshape(-1)
        self.frame += 1
        events: list[Event] = self._check_tracking(detections, ids)
        anchors = self._anchors(out.xyxy)
        for i, tid in enumerate(ids.tolist()):
            if tid < 0:
                continue
            name = out.class_name(int(out.class_id[i]))
            track = self.tracks.get(tid)
            if track is None:
                track = self.tracks[tid] = _Track(anchors[i], name, self.frame)
            else:
                events += self._lines(tid, track, anchors[i])
            track.anchor, track.last_frame = anchors[i], self.frame
            events += self._zones(tid, track, time_s, present=True)
        for tid, track in list(self.tracks.items()):
            if self.frame - track.last_frame > self.config.tracker.exit_after_frames:
                events += self._zones(tid, track, time_s, present=False)
                del self.tracks[tid]
        return out, ids, events

    def _check_tracking(self, detections: Detections, ids: IntArray) -> list[Event]:
        """One ``warning`` event when detections keep arriving but no track ever starts."""
        seen = self.untracked
        if seen.warned or seen.tracked:
            return []
        if bool((ids >= 0).any()):
            seen.tracked = True
            return []
        if len(detections):
            seen.frames += 1
            seen.detections += len(detections)
            seen.max_confidence = max(seen.max_confidence, float(detections.confidence.max()))
        if seen.frames < self.config.tracker.warn_after_frames:
            return []
        seen.warned = True
        return [Event("warning", self.source, {"reason": "no_tracks", "message": self._no_tracks(seen)})]

    def _no_tracks(self, seen: _Untracked) -> str:
        threshold = self.config.tracker.activation_threshold
        head = (
            f"{self.source}: {seen.detections} detections in {seen.frames} frames but no track started, "
            f"so zones and lines count nothing"
        )
        if seen.max_confidence < threshold:
            return (
                f"{head}: the highest confidence ({seen.max_confidence:.2f}) is below the tracker's "
                f"activation_threshold ({threshold:g}); lower it in the zones file "
                f"(tracker: {{activation_threshold: {_below(seen.max_confidence)}}})"
            )
        return f"{head}; check the tracker settings in the zones file (min_iou, lost_track_buffer)"

    def _lines(self, tid: int, track: _Track, anchor: np.ndarray) -> list[Event]:
        events = []
        for line in self.config.lines:
            if line.classes is not None and track.class_name not in line.classes:
                continue
            # a point exactly on the line counts as on its right: each crossing counts once
            before, after = _side(line, track.anchor) >= 0, _side(line, anchor) >= 0
            if before != after:
                if not _crosses_segment(line, track.anchor, anchor):
                    continue
                direction = "in" if not before else "out"
                self.crossings[line.name][direction] += 1
                events.append(
                    self._event("line_cross", line=line.name, direction=direction, tid=tid, cls=track)
                )
        return events

    def _zones(self, tid: int, track: _Track, time_s: float, present: bool) -> list[Event]:
        events = []
        for zone in self.config.zones:
            if zone.classes is not None and track.class_name not in zone.classes:
                continue
            inside = present and inside_polygon(zone.polygon, track.anchor)
            if inside and zone.name not in track.zones:
                track.zones[zone.name] = time_s
                self.entries[zone.name] += 1
                events.append(self._event("zone_enter", zone=zone.name, tid=tid, cls=track))
            elif not inside and zone.name in track.zones:
                dwell = time_s - track.zones.pop(zone.name)
                events.append(self._event("zone_exit", zone=zone.name, tid=tid, cls=track, dwell_s=dwell))
        return events

    def _event(self, kind: str, tid: int, cls: _Track, dwell_s: float | None = None, **data: Any) -> Event:
        details: dict[str, Any] = {**data, "tracker_id": tid, "class": cls.class_name}
        if dwell_s is not None:
            details["dwell_s"] = round(dwell_s, 3)
        return Event(kind, self.source, details)

    def occupancy(self) -> dict[str, int]:
        """Tracks inside each zone now."""
        return {z.name: sum(z.name in t.zones for t in self.tracks.values()) for z in self.config.zones}

    def overlay(self) -> Overlay:
        """The zones and lines with their counts now, for sinks that draw them."""
        occupancy = self.occupancy()
        return Overlay(
            tuple(
                ZoneState(z.name, tuple(z.polygon), occupancy[z.name], self.entries[z.name])
                for z in self.config.zones
            ),
            tuple(
                LineState(line.name, line.start, line.end, c["in"], c["out"])
                for line in self.config.lines
                for c in [self.crossings[line.name]]
            ),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "zones": {n: {"entries": c, "occupancy": self.occupancy()[n]} for n, c in self.entries.items()},
            "lines": {n: dict(c) for n, c in self.crossings.items()},
        }
