"""Sinks against real receivers: a Mosquitto broker with a paho subscriber, an HTTP server, files."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from edgeloop.bundle import Bundle
from edgeloop.errors import SinkError
from edgeloop.improve import Spool
from edgeloop.predictor import Predictor
from edgeloop.stream.frames import Event
from edgeloop.stream.pipeline import Pipeline
from edgeloop.stream.sinks import open_sink
from edgeloop.stream.sinks.capture import CaptureSink
from edgeloop.stream.sinks.mqtt import MqttSink
from edgeloop.stream.sinks.video import VideoSink
from edgeloop.stream.sinks.webhook import WebhookSink
from edgeloop.stream.sources import VideoFileSource
from tests.stream.conftest import free_port, need


def subscribe(port: int, topic: str) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    from paho.mqtt.client import Client
    from paho.mqtt.enums import CallbackAPIVersion

    received: list[tuple[str, dict[str, Any]]] = []
    subscribed = threading.Event()
    client = Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: received.append((msg.topic, json.loads(msg.payload)))
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.wait(10)
    return client, received


def test_mqtt_topic_per_source_qos1(yolo_bundle: Bundle, clip: Path, mosquitto: int) -> None:
    subscriber, received = subscribe(mosquitto, "site/#")
    try:
        with Predictor(yolo_bundle) as predictor, MqttSink(f"mqtt://127.0.0.1:{mosquitto}/site") as sink:
            sources = [VideoFileSource(clip, "cam0", max_fps=5), VideoFileSource(clip, "cam1", max_fps=5)]
            summary = Pipeline(predictor, sources, [sink]).run()
            sink.event(Event("source_lost", "cam1"))
        assert summary.error is None
        deadline = time.monotonic() + 10
        while len(received) < 41 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    topics = [t for t, _ in received]
    assert topics.count("site/cam0") == 20 and topics.count("site/cam1") == 20
    assert topics.count("site/cam1/events") == 1
    first = next(m for t, m in received if t == "site/cam0")
    assert first["source"] == "cam0" and first["predictions"][0]["class"] == "red"


def test_mqtt_without_broker_says_how_to_fix() -> None:
    with pytest.raises(SinkError, match="cannot connect to 127.0.0.1:.*is the broker running"):
        MqttSink(f"mqtt://127.0.0.1:{free_port()}/x").open()


class Receiver(BaseHTTPRequestHandler):
    fail_first = 0
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            type(self).bodies.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("R", (Receiver,), {"fail_first": 2, "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_retries_then_delivers_in_order(
    yolo_bundle: Bundle, clip: Path, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    with Predictor(yolo_bundle) as predictor, WebhookSink(url, flush_timeout_s=5) as sink:
        Pipeline(predictor, [VideoFileSource(clip, "cam0", max_fps=2.5)], [sink]).run()
        sink.event(Event("source_lost", "cam0"))
    assert handler.fail_first == 0, "the first two attempts got 503 and were retried"
    frames = [b for b in handler.bodies if "frame" in b]
    assert [b["frame"] for b in frames] == list(range(0, 100, 10))
    assert handler.bodies[-1]["event"] == "source_lost"
    assert sink.sent == 11 and sink.failed == 0 and sink.dropped == 0


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_webhook_backlog_is_bounded_when_receiver_is_down() -> None:
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}/x", backlog=5, retries=0, flush_timeout_s=0.2)
    with sink:
        for i in range(50):
            sink.event(Event("tick", "cam0", {"i": i}))
        started = time.monotonic()
    assert time.monotonic() - started < 1.0, "close does not wait for an unreachable receiver"
    assert sink.dropped >= 40 and sink.sent == 0


def test_video_and_capture_sinks(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    """``capture:DIR``'s default policy: frames with a detection, into a spool."""
    video = VideoSink(tmp_path / "out.mp4", {"cam0": 25.0})
    capture = open_sink(f"capture:{tmp_path / 'spool'}", {"cam0": 25.0})
    assert isinstance(capture, CaptureSink)
    with Predictor(yolo_bundle) as predictor, video, capture:
        Pipeline(predictor, [VideoFileSource(clip, "cam0")], [video, capture]).run()
    assert probe_frames(tmp_path / "out.mp4") == 100
    counters = capture.counters()
    assert counters["offered"] + counters["skipped:busy"] == 100 and counters["kept"] >= 1
    with Spool(tmp_path / "spool") as spool:
        samples = spool.samples()
        assert spool.verify() == []
    assert len(samples) == counters["kept"]
    assert all(s.record.predictions["predictions"][0]["class"] == "red" for s in samples)


def probe_frames(path: Path) -> int:
    need(shutil.which("ffprobe") is not None, "ffprobe (ffmpeg)")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip())


def test_sink_specs() -> None:
    assert type(open_sink("jsonl:-", {})).__name__ == "JsonlSink"
    assert type(open_sink("http://127.0.0.1:1/x", {})).__name__ == "WebhookSink"
    assert type(open_sink("mqtt://127.0.0.1/p", {})).__name__ == "MqttSink"
    with pytest.raises(SinkError, match="unknown sink 'kafka'; expected one of jsonl:PATH"):
        open_sink("kafka:x", {})
    with pytest.raises(SinkError, match="expected one of"):
        open_sink("video:", {})


def test_video_sink_one_file_per_source(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    sources = [VideoFileSource(clip, "cam0", max_fps=5), VideoFileSource(clip, "cam1", max_fps=10)]
    video = VideoSink(tmp_path / "out.mp4", {s.name: s.fps for s in sources})
    with Predictor(yolo_bundle) as predictor, video:
        summary = Pipeline(predictor, sources, [video]).run()
    assert {n: s["frames"] for n, s in summary.sources.items()} == {"cam0": 20, "cam1": 40}
    assert probe_frames(tmp_path / "out-cam0.mp4") == 20
    assert probe_frames(tmp_path / "out-cam1.mp4") == 40
    assert not (tmp_path / "out.mp4").exists()
