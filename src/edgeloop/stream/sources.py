"""Video sources: files, folders of images, cameras and network streams.

Every source is iterated with ``frames(stop)``, which yields ``Frame`` and
``Event`` objects until the source ends, ``stop`` is set, or it fails with
``SourceError``. Files yield every frame (or a ``max_fps`` subsample of them);
live sources (cameras, RTSP/RTMP/HTTP) keep only the freshest frame and
reconnect with exponential backoff and jitter when the stream is lost.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgeloop.errors import EdgeloopError, SourceError
from edgeloop.imaging import ImageArray, read_image
from edgeloop.optional import require_opencv
from edgeloop.stream.frames import Event, Frame

cv2 = require_opencv("live video sources", "stream")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


@dataclass(frozen=True)
class LiveOptions:
    """How live sources connect and reconnect.

    Attributes:
        connect_timeout_s: give up when the first connection has not succeeded after this long.
        reconnect_timeout_s: give up when a lost stream has not come back after this long.
        backoff_initial_s: first wait between attempts; doubles each failure, with +-25 % jitter.
        backoff_max_s: longest wait between attempts.
        io_timeout_s: OpenCV's open and read timeouts for network streams.
    """

    connect_timeout_s: float = 15.0
    reconnect_timeout_s: float = 60.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 5.0
    io_timeout_s: float = 5.0


def backoff_s(attempt: int, options: LiveOptions, rng: random.Random | None = None) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): exponential, capped, +-25 % jitter."""
    base = min(options.backoff_max_s, options.backoff_initial_s * 2**attempt)
    return base * (rng or random).uniform(0.75, 1.25)


class Source(Protocol):
    """Anything that yields frames and events."""

    name: str
    live: bool
    fps: float | None
    dropped: int

    def frames(self, stop: threading.Event) -> Iterator[Frame | Event]: ...


class VideoFileSource:
    """Every frame of a video file, or a subsample of at most ``max_fps`` frames per video second."""

    live = False

    def __init__(self, path: str | Path, name: str, max_fps: float | None = None) -> None:
        self.path = Path(path)
        self.name = name
        self.max_fps = max_fps
        self.dropped = 0
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise SourceError(
                f"{self.path}: cannot open as a video (is it a video file OpenCV's FFmpeg reads?)"
            )
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if fps > 0 else None
        self._capture = capture

    def frames(self, stop: threading.Event) -> Iterator[Frame | Event]:
        capture, index, next_due = self._capture, 0, 0.0
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                ok, image = capture.read()
                if not ok:
                    return
                pts = index / self.fps if self.fps else None
                index += 1
                if self.max_fps and pts is not None:
                    if pts + 1e-6 < next_due:
                        self.dropped += 1
                        continue
                    next_due += 1.0 / self.max_fps
                yield Frame(self.name, index - 1, image, time.monotonic(), time.perf_counter() - t0, pts)
        finally:
            capture.release()


class ImageFolderSource:
    """The images of a folder in name order, decoded safely."""

    live = False
    fps: float | None = None

    def __init__(self, folder: str | Path, name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self.dropped = 0
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")

    def frames(self, stop: threading.Event) -> Iterator[Frame | Event]:
        for index, path in enumerate(self.paths):
            if stop.is_set():
                return
            t0 = time.perf_counter()
            image = read_image(path)
            yield Frame(self.name, index, image, time.monotonic(), time.perf_counter() - t0)


class LiveSource:
    """A camera or network stream; a grabber thread keeps only the freshest frame.

    Args:
        target: a URL (``rtsp://...``) or a camera index / ``/dev/videoN``.
        max_fps: hand on at most this many frames per second (others count as dropped).
    """

    live = True

    def __init__(
        self, target: str | int, name: str, options: LiveOptions | None = None, max_fps: float | None = None
    ) -> None:
        self.target = target
        self.name = name
        self.options = options or LiveOptions()
        self.max_fps = max_fps
        self.fps: float | None = None
        self.dropped = 0
        self.error: SourceError | None = None
        self._cond = threading.Condition()
        self._latest: tuple[ImageArray, float, float] | None = None
        self._events: deque[Event] = deque(maxlen=1000)
        self._index = 0
        self._done = False

    def _open(self) -> Any:
        if isinstance(self.target, str) and self.target.startswith(STREAM_SCHEMES):
            # TCP: UDP loses packets (smeared frames) on busy links and through NAT.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
            ms = int(self.options.io_timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            capture = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
        else:
            capture = cv2.VideoCapture(self.target)
        if capture.isOpened():
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps = fps if 0 < fps < 1000 else self.fps
            return capture
        capture.release()
        return None

    def _emit(self, kind: str, **data: Any) -> None:
        with self._cond:
            self._events.append(Event(kind, self.name, data))
            self._cond.notify_all()

    def _grab(self, capture: Any, stop: threading.Event) -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            ok, image = capture.read()
            if not ok:
                return
            with self._cond:
                if self._latest is not None:
                    self.dropped += 1  # replaced before anyone took it: keep only the freshest
                self._latest = (image, time.monotonic(), time.perf_counter() - t0)
                self._cond.notify_all()

    def _run(self, stop: threading.Event) -> None:
        started, lost_at, attempt, connected_once = time.monotonic(), None, 0, False
        try:
            while not stop.is_set():
                capture = self._open()
                if capture is None:
                    waited = time.monotonic() - (lost_at if lost_at is not None else started)
                    limit = (
                        self.options.reconnect_timeout_s if connected_once else self.options.connect_timeout_s
                    )
                    if waited >= limit:
                        self.error = self._give_up_error(connected_once, waited)
                        return
                    stop.wait(min(backoff_s(attempt, self.options), max(0.0, limit - waited)))
                    attempt += 1
                    continue
                if lost_at is not None:
                    self._emit("source_reconnected", gap_s=round(time.monotonic() - lost_at, 3))
                else:
                    self._emit("source_connected")
                connected_once, attempt = True, 0
                try:
                    self._grab(capture, stop)
                finally:
                    capture.release()
                if not stop.is_set():
                    lost_at = time.monotonic()
                    self._emit("source_lost")
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _give_up_error(self, connected_once: bool, waited: float) -> SourceError:
        if connected_once:
            return SourceError(
                f"{self.name}: stream lost and not back after {waited:.1f} s; check the camera or "
                f"server, or allow longer with --reconnect-timeout"
            )
        return SourceError(
            f"{self.name}: could not connect to {self.target} within {waited:.1f} s; check the URL, "
            f"credentials and that the camera/server is up (or allow longer with --connect-timeout)"
        )

    def frames(self, stop: threading.Event) -> Iterator[Frame | Event]:
        grabber = threading.Thread(target=self._run, args=(stop,), name=f"grab-{self.name}", daemon=True)
        grabber.start()
        min_gap = 1.0 / self.max_fps if self.max_fps else 0.0
        last = 0.0
        while True:
            with self._cond:
                while not self._events and self._latest is None and not self._done and not stop.is_set():
                    self._cond.wait(0.1)
                if self._events:
                    yield self._events.popleft()
                    continue
                if self._latest is None:
                    break
                image, captured, decode_s = self._latest
                self._latest = None
            if min_gap and captured - last < min_gap:
                self.dropped += 1
                continue
            last = captured
            self._index += 1
            yield Frame(self.name, self._index - 1, image, captured, decode_s)
        grabber.join(timeout=0.2)  # may be inside a blocking read; it is a daemon and exits after it
        if self.error is not None:
            raise self.error


def open_source(
    spec: str, name: str, options: LiveOptions | None = None, max_fps: float | None = None
) -> Source:
    """A source for ``spec``: a stream URL, a camera index or ``/dev/videoN``, a video file or a folder.

    Raises:
        SourceError: a path that does not exist or cannot be read.
    """
    if spec.startswith(STREAM_SCHEMES):
        return LiveSource(spec, name, options, max_fps)
    if spec.isdigit():
        return LiveSource(int(spec), name, options, max_fps)
    path = Path(spec)
    if spec.startswith("/dev/video"):
        if not path.exists():
            raise SourceError(f"{spec}: no such camera device; list cameras with `ls /dev/video*`")
        return LiveSource(spec, name, options, max_fps)
    if path.is_dir():
        return ImageFolderSource(path, name)
    if path.is_file():
        return VideoFileSource(path, name, max_fps)
    if "://" in spec:
        raise SourceError(f"{spec}: unsupported URL scheme; streams are {', '.join(STREAM_SCHEMES)} URLs")
    if path.exists():
        raise SourceError(f"{spec}: not a video file or folder of images")
    raise SourceError(
        f"{spec}: no such file or folder ({path.resolve()}); check the path (or give a stream URL "
        f"such as rtsp://HOST/PATH, a camera index or /dev/videoN)"
    )


def source_names(specs: list[str]) -> list[str]:
    """Short unique names for sources: ``cam0``, ``cam1``... (also MQTT topic suffixes)."""
    if len(set(specs)) != len(specs):
        raise EdgeloopError("the same --source is given twice; give each source once")
    return [f"cam{i}" for i in range(len(specs))]
