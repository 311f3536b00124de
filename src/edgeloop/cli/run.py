"""``edgeloop run``: a bundle on live video (cameras, RTSP, files) into sinks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer

from edgeloop.classes import parse_classes
from edgeloop.cli.backend_options import backend_option, backend_settings, device_option, threads_option
from edgeloop.cli.capture import RTSP_HELP
from edgeloop.cli.common import err, handle_errors, run_until_signalled
from edgeloop.cli.sync import (
    background_summary,
    capture_facts,
    heartbeat_option,
    hub_mqtt_option,
    hub_option,
    hub_token_option,
    start_background_sync,
    sync_flags,
    sync_rate_option,
)

ROLE = "run"


def status_line(snapshot: dict[str, dict[str, Any]]) -> str:
    """One line: per source fps, median inference and end-to-end latency, drops."""
    parts = []
    for name, s in snapshot.items():
        parts.append(
            f"{name} {s['fps']:.1f} fps  infer {s['infer_ms']:.0f} ms  latency {s['latency_ms']:.0f} ms  "
            f"frames {s['frames']}  dropped {s['dropped']}  events {s['events']}"
        )
    return " | ".join(parts)


@handle_errors
def run(
    bundle: Path | None = typer.Argument(None, help="Bundle folder or .tar (or --models)."),
    models: Path | None = typer.Option(
        None,
        "--models",
        help="Run the version the models folder's 'current' points at, and follow it: frames switch "
        "to a new version without losing a result (the folder `edgeloop agent` manages).",
    ),
    sources: list[str] = typer.Option(..., "--source", "-s", help=RTSP_HELP + " Repeat for more sources."),
    sinks: list[str] = typer.Option(
        [],
        "--sink",
        help="Where results go; repeat for more: jsonl:PATH (jsonl:- = stdout), video:PATH.mp4, "
        "mqtt://HOST[:PORT]/PREFIX, webhook:http://HOST/PATH, capture:SPOOL_DIR (frames with detections, "
        "a default policy; --capture sets your own).",
    ),
    zones: Path | None = typer.Option(
        None, "--zones", help="YAML file of zones and lines (enables tracking)."
    ),
    max_fps: float | None = typer.Option(
        None, "--max-fps", min=0.01, help="Process at most N frames/s per source."
    ),
    conf: float | None = typer.Option(
        None, min=0, max=1, help="Confidence threshold (default: the bundle's)."
    ),
    classes: str | None = typer.Option(
        None, help="Keep only these classes: names or ids, comma-separated, e.g. person,car or 0,2."
    ),
    backend: str = backend_option(),
    device: str | None = device_option(),
    threads: int = threads_option("per worker; with several workers, 0 means cores / workers"),
    workers: int = typer.Option(
        0,
        "--workers",
        min=0,
        max=64,
        help="Frames in inference at once, sharing one model; results still reach sinks in order "
        "(0: what the backend prefers: 2 for onnxruntime on a multi-core CPU, else 1).",
    ),
    connect_timeout: float = typer.Option(
        15.0, "--connect-timeout", min=0.1, help="Seconds to wait for a live source to come up."
    ),
    reconnect_timeout: float = typer.Option(
        60.0,
        "--reconnect-timeout",
        min=0.1,
        help="Seconds a lost live source may stay away before the run ends.",
    ),
    stats_every: float = typer.Option(
        10.0, "--stats-every", min=0, help="Send per-source stats to the sinks as events every S s (0: off)."
    ),
    summary_json: bool = typer.Option(
        False, "--summary-json", help="Print the final summary as JSON on stderr."
    ),
    capture: Path | None = typer.Option(
        None,
        "--capture",
        help="Capture policy YAML: keep the frames worth labelling in --spool (docs/improve.md).",
    ),
    spool: Path | None = typer.Option(None, "--spool", help="Spool folder for --capture."),
    device_id: str | None = typer.Option(
        None, "--device-id", help="Device id stored with captured frames (default: the host name)."
    ),
    hub: str | None = hub_option(),
    hub_token: str | None = hub_token_option(),
    sync_rate: str | None = sync_rate_option(),
    heartbeat_s: float = heartbeat_option(),
    hub_mqtt: str | None = hub_mqtt_option(),
) -> None:
    """Run a detection bundle on video sources, with live stats; Ctrl-C stops cleanly."""
    # FFmpeg's and OpenCV's own lines on every failed reconnect attempt drown the status line;
    # our events and errors say what happened. Set these variables to see them again.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    from edgeloop.predictor import Predictor
    from edgeloop.stream.pipeline import Pipeline, plan_workers
    from edgeloop.stream.sinks import open_sink
    from edgeloop.stream.sources import LiveOptions, open_source, source_names
    from edgeloop.stream.zones import load_zones

    config = backend_settings(backend, device, threads)
    bundle, key = _bundle(bundle, models)
    capture_sink = _capture_sink(capture, spool, device_id)
    sync_settings = sync_flags(hub, hub_token, sync_rate, spool, heartbeat_s, hub_mqtt)
    synced: list[str] = []
    zones_config = load_zones(zones) if zones is not None else None
    live = LiveOptions(connect_timeout_s=connect_timeout, reconnect_timeout_s=reconnect_timeout)
    opened = [open_source(s, n, live, max_fps) for s, n in zip(sources, source_names(sources), strict=True)]
    fps = {s.name: s.fps for s in opened}
    sink_objects = [open_sink(spec, fps) for spec in sinks]
    sink_objects += [capture_sink] if capture_sink is not None else []
    workers, threads = plan_workers(workers, threads, config.capabilities())
    config = config.with_threads(threads)
    for source, spec in zip(opened, sources, strict=True):
        err.print(f"{source.name}: {spec}")
    with Predictor(bundle, config) as predictor, ExitStack() as stack:
        recorder = stack.enter_context(_recorder(models)) if models is not None else None
        class_ids = list(parse_classes(classes, predictor.names)) if classes is not None else None
        captures = _set_model(sink_objects, predictor)
        for sink in sink_objects:
            stack.enter_context(sink)
        for sink in captures:
            if sink.unavailable:  # a full or failing disk stops capture, never inference
                err.print(f"warning: capture is off for this run: {sink.unavailable}", markup=False)
        if sync_settings is not None and spool is not None:
            facts = capture_facts(captures, predictor.bundle.manifest)
            background = start_background_sync(sync_settings, spool, facts)
            if background is not None:  # stopped before the capture sink closes (LIFO)
                stack.callback(lambda: synced.append(background_summary(background, background.close())))
        pipeline = Pipeline(
            predictor,
            opened,
            [*sink_objects, _warning_printer()],
            zones_config,
            predictor.options(conf=conf, classes=class_ids),
            stats_every_s=stats_every,
            workers=workers,
            key=key,
            recorder=recorder,
        )
        if models is not None and key is not None:
            stack.enter_context(_follow(models, key, pipeline, config, captures))
        summary, stopped_by = run_until_signalled(lambda: pipeline.run(_status_printer()), pipeline.stop)
    if err.is_terminal:
        err.print()
    report = summary.to_json()
    if captures:
        report["capture"] = {str(c.spool): c.counters() for c in captures}
    _print_summary(report, stopped_by, summary_json)
    for line in synced:
        err.print(f"  {line}", markup=False)
    if summary.error is not None:
        raise summary.error


def _bundle(bundle: Path | None, models: Path | None) -> tuple[Path, str | None]:
    """The bundle to start with, and its version key when following ``models``."""
    from edgeloop.errors import ConfigError

    if models is None:
        if bundle is None:
            raise ConfigError("nothing to run: give a bundle folder or .tar, or --models DIR")
        return bundle, None
    if bundle is not None:
        raise ConfigError(f"give a bundle or --models, not both ({bundle} and --models {models})")
    from edgeloop.agent.layout import version_key
    from edgeloop.stream.follow import first_bundle, note_start

    message = note_start(models, ROLE)
    if message:
        err.print(f"warning: {message}", markup=False)
    first = first_bundle(models)
    return first, version_key(first)


@contextmanager
def _recorder(models: Path) -> Iterator[Any]:
    from edgeloop.stream.follow import open_recorder

    recorder = open_recorder(models, ROLE)
    try:
        yield recorder
    finally:
        recorder.close()


@contextmanager
def _follow(models: Path, key: str, pipeline: Any, config: Any, captures: list[Any]) -> Iterator[None]:
    """Follow ``models`` while the run lasts: a new version is loaded and warmed beside the one
    answering, then the pipeline swaps to it between frames (a version that fails keeps the old)."""
    from edgeloop.predictor import Predictor
    from edgeloop.stream.follow import FolderWatcher, warm_up

    def swap(bundle: Path, new_key: str) -> None:
        predictor = Predictor(bundle, config)
        try:
            warm_up(predictor)
            pipeline.swap(predictor, new_key)
        except Exception:
            predictor.close()
            raise
        _set_model(captures, predictor)

    err.print(f"following {models}: running version {key}; switches are picked up", markup=False)
    pipeline.recorder.serving(key)
    say = lambda message: err.print(message, markup=False)  # noqa: E731
    watcher = FolderWatcher(models, key, swap, pipeline.recorder, say=say).start()
    try:
        yield
    finally:
        watcher.close()


def _capture_sink(policy: Path | None, spool: Path | None, device_id: str | None) -> Any:
    """The sink for ``--capture POLICY --spool DIR`` (None without them); the policy is checked now."""
    from edgeloop.cli.capture import capture_flags

    checked = capture_flags(policy, spool, device_id)
    if checked is None or spool is None:
        return None
    from edgeloop.stream.sinks.capture import CaptureSink

    return CaptureSink(spool, checked, device_id)


def _set_model(sinks: list[Any], predictor: Any) -> list[Any]:
    """The capture sinks among ``sinks``, told which model's predictions they store."""
    from edgeloop.improve.capture import ModelRef
    from edgeloop.stream.sinks.capture import CaptureSink

    manifest = predictor.bundle.manifest
    captures = [s for s in sinks if isinstance(s, CaptureSink)]
    for sink in captures:
        sink.model = ModelRef(manifest.name, str(manifest.version))
    return captures


def _warning_printer() -> Any:
    """A sink that shows the pipeline's ``warning`` events on stderr (other sinks get them too)."""
    from edgeloop.stream.frames import Event, FrameResult
    from edgeloop.stream.sinks.base import Sink

    class WarningPrinter(Sink):
        def write(self, result: FrameResult) -> None:
            pass

        def event(self, event: Event) -> None:
            if event.kind == "warning":
                if err.is_terminal:  # below the status line, which is redrawn in place
                    sys.stderr.write("\r\x1b[2K")
                err.print(f"warning: {event.data.get('message', event.data)}", markup=False)

    return WarningPrinter()


def _status_printer() -> Any:
    last = [0.0]

    def show(snapshot: dict[str, dict[str, Any]]) -> None:
        import time

        line = status_line(snapshot)
        if err.is_terminal:
            sys.stderr.write("\r\x1b[2K" + line)
            sys.stderr.flush()
        elif any(s["frames"] for s in snapshot.values()) and time.monotonic() - last[0] >= 5.0:
            # logs: a line every 5 s, not a flood
            last[0] = time.monotonic()
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    return show


def _print_summary(summary: dict[str, Any], stopped_by: list[str], as_json: bool) -> None:
    if as_json:
        err.print(json.dumps(summary), markup=False, highlight=False)
        return
    how = f"stopped by {stopped_by[0]}" if stopped_by else "ended"
    err.print(
        f"{how} after {summary['duration_s']:.1f} s: {summary['frames']} frames, {summary['fps']:.1f} fps"
    )
    for name, s in summary["sources"].items():
        err.print(
            f"  {name}: {s['frames']} frames, dropped {s['dropped']}, events {s['events']}, "
            f"infer {s['infer_ms']:.1f} ms, latency {s['latency_ms']:.1f} ms (medians)",
            markup=False,
        )
    for name, counts in summary["counts"].items():
        for zone, z in counts["zones"].items():
            err.print(
                f"  {name} zone {zone}: {z['entries']} entries, {z['occupancy']} inside now", markup=False
            )
        for line, c in counts["lines"].items():
            err.print(f"  {name} line {line}: in {c['in']}, out {c['out']}", markup=False)
    if summary.get("capture"):
        from edgeloop.improve.hook import counters_line

        for spool, counters in summary["capture"].items():
            err.print(f"  capture into {spool}: {counters_line(counters)}", markup=False)
