"""Result sinks and the ``--sink`` spec parser: one sink per file, a registry of names.

Adding a sink is one new file (a :class:`Sink` subclass) plus one line in ``SINKS``.
"""

from __future__ import annotations

from edgeloop.errors import SinkError
from edgeloop.registry import Registry
from edgeloop.stream.sinks.base import Sink

SINKS = Registry(
    "sink",
    {
        "jsonl": "edgeloop.stream.sinks.jsonl:JsonlSink",
        "video": "edgeloop.stream.sinks.video:VideoSink",
        "mqtt": "edgeloop.stream.sinks.mqtt:MqttSink",
        "webhook": "edgeloop.stream.sinks.webhook:WebhookSink",
        "capture": "edgeloop.stream.sinks.capture:CaptureSink",
    },
    SinkError,
)

# URL schemes whose sink takes the whole spec (``mqtt://HOST/PREFIX``) as its target.
URL_SCHEMES = {"mqtt": "mqtt", "http": "webhook", "https": "webhook"}

SINK_HELP = (
    "jsonl:PATH (or jsonl:- for stdout), video:PATH.mp4, mqtt://HOST[:PORT]/PREFIX, "
    "webhook:http://HOST/PATH, capture:SPOOL_DIR"
)


def parse_sink_spec(spec: str) -> tuple[str, str]:
    """``(sink name, target)`` for one ``--sink`` value, e.g. ``("jsonl", "out.jsonl")``.

    Raises:
        SinkError: an unknown sink or a missing target.
    """
    kind, _, target = spec.partition(":")
    if kind in URL_SCHEMES:
        return URL_SCHEMES[kind], spec
    if kind not in SINKS:
        raise SinkError(f"--sink {spec!r}: unknown sink {kind!r}; expected one of {SINK_HELP}")
    if not target:
        raise SinkError(f"--sink {spec!r}: expected one of {SINK_HELP}")
    return kind, target


def open_sink(spec: str, sources: dict[str, float | None]) -> Sink:
    """A sink for one ``--sink`` value (not opened yet); ``sources`` maps names to fps.

    Raises:
        SinkError: an unknown or malformed spec.
    """
    name, target = parse_sink_spec(spec)
    cls: type[Sink] = SINKS.get(name)
    return cls.from_target(target, sources)


__all__ = ["SINKS", "SINK_HELP", "Sink", "open_sink", "parse_sink_spec"]
