"""Sources: every frame of files, max-fps subsampling, folders, clear errors, bounded give-up."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.errors import EdgeloopError, SourceError
from edgeloop.stream.frames import Event, Frame
from edgeloop.stream.sources import (
    ImageFolderSource,
    LiveOptions,
    LiveSource,
    VideoFileSource,
    backoff_s,
    open_source,
    source_names,
)
from tests.stream.conftest import free_port


def frames_of(source: object) -> list[Frame]:
    return [f for f in source.frames(threading.Event()) if isinstance(f, Frame)]  # type: ignore[attr-defined]


def test_file_every_frame_and_max_fps(clip: Path) -> None:
    source = VideoFileSource(clip, "cam0")
    assert source.fps == 25
    frames = frames_of(source)
    assert [f.index for f in frames] == list(range(100))
    assert frames[0].image.shape == (480, 640, 3) and frames[0].pts_s == 0.0
    sampled = VideoFileSource(clip, "cam0", max_fps=5)
    kept = frames_of(sampled)
    assert [f.index for f in kept] == list(range(0, 100, 5))
    assert sampled.dropped == 80


def test_folder_and_open_source(tmp_path: Path, clip: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((32, 48, 3), i, np.uint8))
    (tmp_path / "notes.txt").write_text("skipped")
    frames = frames_of(open_source(str(tmp_path), "cam0"))
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2]
    assert isinstance(open_source(str(clip), "cam0"), VideoFileSource)
    assert isinstance(open_source("rtsp://127.0.0.1:1/x", "cam0"), LiveSource)
    assert isinstance(open_source("0", "cam0"), LiveSource)
    with pytest.raises(SourceError, match=r"missing\.mp4: no such file or folder \(.*missing\.mp4\); check"):
        open_source(str(tmp_path / "missing.mp4"), "cam0")
    with pytest.raises(SourceError, match="no such camera device"):
        open_source("/dev/video987", "cam0")
    with pytest.raises(SourceError, match="unsupported URL scheme; streams are rtsp://"):
        open_source("ftp://127.0.0.1/x.mp4", "cam0")
    with pytest.raises(SourceError, match="cannot open as a video"):
        VideoFileSource(tmp_path / "notes.txt", "cam0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(tmp_path / "empty", "cam0")
    with pytest.raises(EdgeloopError, match="twice"):
        source_names(["a", "a"])


def test_backoff_grows_with_jitter_and_caps() -> None:
    options = LiveOptions(backoff_initial_s=0.5, backoff_max_s=4.0)
    rng = random.Random(0)
    waits = [[backoff_s(a, options, rng) for _ in range(200)] for a in range(6)]
    for attempt, values in enumerate(waits):
        base = min(4.0, 0.5 * 2**attempt)
        assert base * 0.75 <= min(values) and max(values) <= base * 1.25
        assert max(values) - min(values) > base * 0.3, "jittered, so devices do not retry in lockstep"


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_stream_that_never_comes_up_fails_in_bounded_time() -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/nothing"
    source = LiveSource(url, "cam0", LiveOptions(connect_timeout_s=1.5, backoff_initial_s=0.1))
    started = time.monotonic()
    items: list[Frame | Event] = []
    with pytest.raises(SourceError, match=r"could not connect to rtsp://.* within 1\.\d s; check the URL"):
        items.extend(source.frames(threading.Event()))
    assert 1.4 <= time.monotonic() - started < 4.0
    assert items == []


def test_http_stream_source_reads_and_reconnects_at_end(clip: Path) -> None:
    """An http:// URL goes through the live path: frames, then end of stream -> lost -> reconnected."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(clip.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    source = LiveSource(url, "cam0", LiveOptions(backoff_initial_s=0.05))
    stop = threading.Event()
    kinds: list[str] = []
    frames = 0
    try:
        for item in source.frames(stop):
            if isinstance(item, Event):
                kinds.append(item.kind)
                if item.kind == "source_reconnected":
                    stop.set()
            else:
                frames += 1
                time.sleep(0.002)
    finally:
        server.shutdown()
        server.server_close()
    assert kinds[:3] == ["source_connected", "source_lost", "source_reconnected"]
    assert frames > 10
    assert frames + source.dropped >= 100, "every decoded frame was either handed on or counted as dropped"
