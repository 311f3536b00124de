"""Real components for the stream tests, started and stopped by fixtures.

Synthetic H.264 videos (ffmpeg), an RTSP server (GStreamer, run with Debian's
/usr/bin/python3), a Mosquitto broker and an HTTP receiver, all on loopback.
A missing component skips its tests with the install command, except under
CI=true, where it fails them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
GREY = 128
# (colour BGR, size px, list of (frame, x1, y1)) key points, linearly interpolated; None = absent.
Path_ = list[tuple[int, int, int]]


def need(condition: bool, what: str) -> None:
    """Skip (or fail under CI=true) when a system component is missing."""
    if condition:
        return
    message = f"{what} missing: run `make test` as root, or scripts/system-deps.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s} s")


def write_h264(path: Path, frames: Iterator[np.ndarray], size_wh: tuple[int, int], fps: int = 25) -> Path:
    """Encode BGR frames to an H.264 mp4 with ffmpeg (near-lossless, keyframe every second)."""
    need(shutil.which("ffmpeg") is not None, "ffmpeg")
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", f"{size_wh[0]}x{size_wh[1]}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", "-g", str(fps),
        str(path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in frames:
        proc.stdin.write(np.ascontiguousarray(frame).tobytes())
    proc.stdin.close()
    assert proc.wait(60) == 0
    return path


@dataclass(frozen=True)
class Mover:
    """A filled square moving between key points ``(frame, x1, y1)``, absent outside them.

    Positions snap to ``grid`` px so that boxes land exactly on the colour
    detector's cells (stride 32) in a 640x640 frame, which is not letterboxed.
    """

    colour_bgr: tuple[int, int, int]
    size: int
    keys: list[tuple[int, int, int]]
    grid: int = 32

    def at(self, frame: int) -> tuple[int, int] | None:
        keys = self.keys
        if frame < keys[0][0] or frame > keys[-1][0]:
            return None
        for (f0, x0, y0), (f1, x1, y1) in itertools.pairwise(keys):
            if f0 <= frame <= f1:
                t = (frame - f0) / max(1, f1 - f0)
                g = self.grid
                return g * round((x0 + t * (x1 - x0)) / g), g * round((y0 + t * (y1 - y0)) / g)
        return keys[-1][1], keys[-1][2]


def scene_frames(movers: list[Mover], n: int, size_wh: tuple[int, int]) -> Iterator[np.ndarray]:
    for i in range(n):
        image = np.full((size_wh[1], size_wh[0], 3), GREY, np.uint8)
        for m in movers:
            xy = m.at(i)
            if xy is not None:
                image[xy[1] : xy[1] + m.size, xy[0] : xy[0] + m.size] = m.colour_bgr
        yield image


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s 640x480 H.264 clip: one red square crossing the frame left to right.

    y = 176 lands on the detector's grid once letterboxed (+80 px), so there is one box per frame.
    """
    red = Mover((0, 0, 255), 64, [(0, 0, 176), (99, 576, 176)])
    out = tmp_path_factory.mktemp("video") / "clip.mp4"
    return write_h264(out, scene_frames([red], 100, (640, 480)), (640, 480))


class RtspServer:
    """GStreamer's RTSP server serving one file at rtsp://127.0.0.1:PORT/test; can be killed and restarted."""

    def __init__(self, video: Path, port: int) -> None:
        self.video, self.port = video, port
        self.url = f"rtsp://127.0.0.1:{port}/test"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), str(self.video), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def rtsp_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0


@pytest.fixture()
def rtsp_server(clip: Path) -> Iterator[RtspServer]:
    need(rtsp_available(), "GStreamer RTSP server (python3-gi gir1.2-gst-rtsp-server-1.0)")
    server = RtspServer(clip, free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture()
def mosquitto() -> Iterator[int]:
    """A real Mosquitto broker on a free loopback port; yields the port."""
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    need(binary is not None, "mosquitto")
    assert binary is not None
    port = free_port()
    proc = subprocess.Popen([binary, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 s 320x240 H.264 clip (1,500 frames) of three squares moving at different speeds,
    so that almost every frame differs: long enough to be killed at any moment at full speed."""
    red = Mover((0, 0, 255), 32, [(0, 0, 16), (1499, 288, 16)], grid=1)
    green = Mover((0, 255, 0), 24, [(0, 100, 0), (1499, 100, 216)], grid=1)
    blue = Mover((255, 0, 0), 16, [(f, 0 if f % 100 == 0 else 304, 150) for f in range(0, 1500, 50)], grid=1)
    out = tmp_path_factory.mktemp("video") / "long.mp4"
    return write_h264(out, scene_frames([red, green, blue], 1500, (320, 240)), (320, 240))
