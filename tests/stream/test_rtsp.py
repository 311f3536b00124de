"""A real RTSP server (GStreamer) on loopback: streaming, and killing and restarting it mid-stream."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle
from edgeloop.predictor import Predictor
from edgeloop.stream.pipeline import Pipeline, Summary
from edgeloop.stream.sinks.jsonl import JsonlSink
from edgeloop.stream.sources import LiveOptions, LiveSource
from tests.stream.conftest import RtspServer

FAST = LiveOptions(connect_timeout_s=10, reconnect_timeout_s=10, backoff_initial_s=0.1, backoff_max_s=0.5)


def records(path: Path) -> list[dict[str, object]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


def frames_in(path: Path) -> int:
    return sum("frame" in r for r in records(path))


def wait_for(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_rtsp_kill_and_restart_reconnects(
    yolo_bundle: Bundle, rtsp_server: RtspServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result: list[Summary] = []
    with Predictor(yolo_bundle) as predictor, JsonlSink(out) as sink:
        pipeline = Pipeline(predictor, [LiveSource(rtsp_server.url, "cam0", FAST)], [sink], stats_every_s=0.5)
        runner = threading.Thread(target=lambda: result.append(pipeline.run()))
        runner.start()
        try:
            wait_for(lambda: frames_in(out) >= 10, 20)
            rtsp_server.kill()
            killed_at = time.monotonic()
            time.sleep(1.0)
            before_restart = frames_in(out)
            rtsp_server.start()
            wait_for(lambda: frames_in(out) >= before_restart + 10, 20)
            assert runner.is_alive(), "the pipeline keeps running through the outage"
        finally:
            stop_at = time.monotonic()
            pipeline.stop()
            runner.join(10)
        stopped_in = time.monotonic() - stop_at
    assert stopped_in < 2.0
    (summary,) = result
    assert summary.error is None and summary.stopped
    stats = [r for r in records(out) if r.get("event") == "stats"]
    assert stats and {"fps", "dropped", "infer_ms", "latency_ms", "decode_ms"} <= set(stats[-1])
    events = [r for r in records(out) if "event" in r and r["event"] != "stats"]
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["source_connected", "source_lost", "source_reconnected"]
    gap = float(events[2]["gap_s"])  # type: ignore[arg-type]
    assert 0.5 <= gap < time.monotonic() - killed_at  # the server was down for >= 1 s
    frames = [r for r in records(out) if "frame" in r]
    numbers = [int(r["frame"]) for r in frames]  # type: ignore[call-overload]
    assert numbers == sorted(set(numbers)), "frame numbers keep counting across the outage"
    # live: frames the pipeline had no room for are dropped (freshest wins) and counted
    assert summary.sources["cam0"]["dropped"] >= numbers[-1] + 1 - len(numbers)
    reds = [p for r in frames for p in r["predictions"]]  # type: ignore[attr-defined]
    assert reds and all(p["class"] == "red" for p in reds)
