"""Result sinks and the ``--sink`` spec parser: one sink per file, a registry of names."""

from __future__ import annotations

from edgeloop.errors import SinkError
from edgeloop.stream.sinks.base import Sink

SINK_HELP = (
    "jsonl:PATH (or jsonl:- for stdout), video:PATH.mp4, mqtt://HOST[:PORT]/PREFIX, "
    "webhook:http://HOST/PATH, capture:FOLDER"
)


def open_sink(spec: str, sources: dict[str, float | None]) -> Sink:
    """A sink for one ``--sink`` value (not opened yet); ``sources`` maps names to fps.

    Raises:
        SinkError: an unknown or malformed spec.
    """
    kind, _, target = spec.partition(":")
    if kind == "mqtt":
        from edgeloop.stream.sinks.mqtt import MqttSink

        return MqttSink(spec)
    if kind in ("http", "https"):
        kind, target = "webhook", spec
    if not target:
        raise SinkError(f"--sink {spec!r}: expected one of {SINK_HELP}")
    if kind == "jsonl":
        from edgeloop.stream.sinks.jsonl import JsonlSink

        return JsonlSink(target)
    if kind == "video":
        from edgeloop.stream.sinks.video import VideoSink

        return VideoSink(target, sources)
    if kind == "webhook":
        from edgeloop.stream.sinks.webhook import WebhookSink

        return WebhookSink(target)
    if kind == "capture":
        from edgeloop.stream.sinks.capture import CaptureSink

        return CaptureSink(target)
    raise SinkError(f"--sink {spec!r}: unknown sink {kind!r}; expected one of {SINK_HELP}")


__all__ = ["SINK_HELP", "Sink", "open_sink"]
