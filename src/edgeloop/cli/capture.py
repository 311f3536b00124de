"""``edgeloop capture``: collect frames before any model exists (model-free samplers into a spool)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from edgeloop.cli.common import err, handle_errors, run_until_signalled
from edgeloop.errors import ConfigError

if TYPE_CHECKING:
    from edgeloop.improve.policy import CapturePolicy

RTSP_HELP = "Video file, image folder, camera index or /dev/videoN, or rtsp:// rtmp:// http(s):// URL."


def capture_flags(policy: Path | None, spool: Path | None, device_id: str | None) -> CapturePolicy | None:
    """The policy of ``run``/``serve``'s ``--capture POLICY --spool DIR`` (None: capture off), validated.

    Raises:
        ConfigError: one of the two flags without the other, ``--device-id`` alone, or an invalid policy.
    """
    if policy is None and spool is None:
        if device_id is not None:
            raise ConfigError("--device-id is stored with captured frames: add --capture POLICY --spool DIR")
        return None
    if policy is None or spool is None:
        missing = "--spool DIR" if spool is None else "--capture POLICY.yaml"
        raise ConfigError(f"capture needs both --capture POLICY.yaml and --spool DIR: add {missing}")
    from edgeloop.improve.policy import load_policy

    return load_policy(policy)


@handle_errors
def capture(
    sources: list[str] = typer.Option(..., "--source", "-s", help=RTSP_HELP + " Repeat for more sources."),
    spool: Path = typer.Option(..., "--spool", help="Spool folder the kept frames go to."),
    policy: Path = typer.Option(
        ...,
        "--policy",
        help="Capture policy YAML with the model-free samplers: interval, scene_change, random "
        "(docs/improve.md).",
    ),
    device_id: str | None = typer.Option(
        None, "--device-id", help="Device id stored with captured frames (default: the host name)."
    ),
    max_fps: float | None = typer.Option(
        None, "--max-fps", min=0.01, help="Look at most N frames/s per source."
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
    summary_json: bool = typer.Option(
        False, "--summary-json", help="Print the final summary as JSON on stderr."
    ),
) -> None:
    """Keep camera frames for a first dataset, without a model; Ctrl-C stops cleanly.

    Then `edgeloop spool export` turns the spool into a dataset to label.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    from edgeloop.improve.hook import check_model_free
    from edgeloop.improve.policy import load_policy
    from edgeloop.stream.collect import Collector
    from edgeloop.stream.sources import LiveOptions, open_source, source_names

    capture_policy = load_policy(policy)
    check_model_free(capture_policy, str(policy))  # before opening cameras
    live = LiveOptions(connect_timeout_s=connect_timeout, reconnect_timeout_s=reconnect_timeout)
    opened = [open_source(s, n, live, max_fps) for s, n in zip(sources, source_names(sources), strict=True)]
    collector = Collector(opened, capture_policy, spool, device_id, policy_name=str(policy))
    for source, spec in zip(opened, sources, strict=True):
        err.print(f"{source.name}: {spec}", markup=False)
    err.print(f"capturing into {spool} (policy {policy}); Ctrl-C stops", markup=False)
    summary, stopped_by = run_until_signalled(lambda: collector.run(_status_printer()), collector.stop)
    if err.is_terminal:
        err.print()
    report = summary.to_json()
    if summary_json:
        err.print(json.dumps(report), markup=False, highlight=False)
    else:
        _print_summary(report, stopped_by)
    if summary.error is not None:
        raise summary.error


def _status_printer() -> Any:
    def show(snapshot: dict[str, dict[str, Any]]) -> None:
        line = " | ".join(f"{n} frames {s['frames']}  kept {s['kept']}" for n, s in snapshot.items())
        if err.is_terminal:
            sys.stderr.write("\r\x1b[2K" + line)
            sys.stderr.flush()

    return show


def _print_summary(report: dict[str, Any], stopped_by: list[str]) -> None:
    from edgeloop.improve.hook import counters_line

    how = f"stopped by {stopped_by[0]}" if stopped_by else "ended"
    frames = sum(s["frames"] for s in report["sources"].values())
    err.print(f"{how} after {report['duration_s']:.1f} s: {frames} frames looked at", markup=False)
    for name, s in report["sources"].items():
        err.print(f"  {name}: {s['frames']} frames, kept {s['kept']}, skipped {s['dropped']}", markup=False)
    counters = {**report["counters"], "errors": report["errors"]}
    counters.update(held=report["held"], held_bytes=report["held_bytes"])
    err.print(f"  capture into the spool: {counters_line(counters)}", markup=False)
