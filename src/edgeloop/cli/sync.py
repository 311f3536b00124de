"""``edgeloop sync``: send a spool's samples to a hub, a folder or an S3 bucket (docs/hub/sync.md)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from edgeloop.cli.common import err, error_line, handle_errors, run_until_signalled

if TYPE_CHECKING:
    from edgeloop.improve.sync import Progress

TOKEN_ENV = "EDGELOOP_HUB_TOKEN"
EXIT_REFUSED = 2


def heartbeat_option() -> Any:
    """``--heartbeat-s`` of run, serve and sync."""
    return typer.Option(
        30.0,
        "--heartbeat-s",
        min=0.1,
        help="With --hub: seconds between heartbeats (model, health, fps, backlog, free disk) and "
        "checks for hub changes.",
    )


def hub_mqtt_option() -> Any:
    """``--hub-mqtt`` of run, serve and sync."""
    return typer.Option(
        None,
        "--hub-mqtt",
        help="With --hub: the MQTT broker the hub's --mqtt publishes to (mqtt://host:port); "
        "hub changes are then noticed at once instead of at the next heartbeat.",
    )


@handle_errors
def sync(
    spool: Path = typer.Option(..., "--spool", help="Spool folder that capture writes into."),
    hub: str | None = typer.Option(None, "--hub", help="Hub base URL, e.g. http://hub.local:8000."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar=TOKEN_ENV,
        show_default=False,
        help=f"The device's hub token; better set {TOKEN_ENV} (keeps it out of shell history).",
    ),
    to: str | None = typer.Option(None, "--to", help="Without a hub: a folder, or s3://bucket/prefix."),
    rate: str | None = typer.Option(None, "--rate", help="Bandwidth cap in bytes/s: 500k, 2M, 64KiB."),
    once: bool = typer.Option(False, "--once", help="Send what is held, then exit (exit 1 if unreachable)."),
    batch: int = typer.Option(
        1, "--batch", min=1, max=64, help="Samples per request (hub: the batch route; many small files)."
    ),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds a request may stall."),
    resumable_above: str = typer.Option(
        "8M", "--resumable-above", help="Files larger than this use the hub's resumable uploads."
    ),
    summary_json: bool = typer.Option(False, "--summary-json", help="Print the summary as JSON on stderr."),
    heartbeat_s: float = heartbeat_option(),
    hub_mqtt: str | None = hub_mqtt_option(),
) -> None:
    """Send captured samples home: each leaves the spool only once the target holds it.

    Runs beside `edgeloop run --capture` (the spool stays theirs); Ctrl-C stops cleanly.
    """
    from edgeloop.errors import ConfigError
    from edgeloop.improve.acker import SpoolAcker
    from edgeloop.improve.bandwidth import parse_rate
    from edgeloop.improve.sync import Syncer, SyncFailed
    from edgeloop.improve.sync_targets import TargetOptions, TargetRefused, open_target, target_kind

    kind = target_kind(hub, to)
    if hub_mqtt is not None:
        from edgeloop.improve.hublink import check_mqtt_url

        if kind != "hub":
            raise ConfigError("--hub-mqtt tells when the hub changed something: use it with --hub URL")
        check_mqtt_url(hub_mqtt)
    options = TargetOptions(
        location=hub if hub is not None else str(to),
        token=token if kind == "hub" else None,
        timeout_s=timeout,
        batch=batch,
        resumable_above_bytes=parse_rate(resumable_above),
    )
    rate_bps = parse_rate(rate) if rate is not None else None
    target = open_target(kind, options)
    display = _Display()
    with SpoolAcker(spool) as acker:
        syncer = Syncer(acker, target, rate_bps, once=once, log=display.log, on_progress=display.show)
        link = None
        if kind == "hub" and not once and token:  # loop mode: heartbeats and the hub's changes
            from edgeloop.improve.hublink import open_link

            link = open_link(
                options.location,
                token,
                str(spool),
                heartbeat_s,
                hub_mqtt,
                sync=lambda: (syncer.stats.as_dict(), None),
                say=display.log,
            )
        backlog, size = acker.backlog()
        cap = f", at most {rate} bytes/s" if rate else ""
        err.print(
            f"sync {spool} -> {target.description}: {backlog} held ({size / 1e6:.1f} MB){cap}", markup=False
        )
        try:
            with display:
                _, stopped_by = run_until_signalled(syncer.run, syncer.stop)
        except (TargetRefused, SyncFailed) as exc:
            display.close()
            error_line(str(exc).replace("[", "\\["))
            _summary(syncer, summary_json, acker)
            raise typer.Exit(EXIT_REFUSED if isinstance(exc, TargetRefused) else 1) from None
        finally:
            if link is not None:
                link.close()
            target.close()
        _summary(syncer, summary_json, acker, stopped_by[0] if stopped_by else None, link)


def _summary(syncer: Any, as_json: bool, acker: Any, stopped_by: str | None = None, link: Any = None) -> None:
    backlog, size = acker.backlog()
    if as_json:
        report = {**syncer.stats.as_dict(), "backlog": backlog, "backlog_bytes": size}
        if link is not None:
            report["heartbeats"] = {"sent": link.sent, "failed": link.failures}
        err.print(json.dumps(report), markup=False, highlight=False)
        return
    how = f"stopped by {stopped_by}: " if stopped_by else ""
    held = f"; {backlog} still held ({size / 1e6:.1f} MB)"
    err.print(f"{how}{syncer.stats.line()}{held}{link_line(link)}", markup=False)


class _Display:
    """A rich progress bar on a terminal; otherwise a line every 10 s. Log lines above either."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._last_line = 0.0

    def __enter__(self) -> _Display:
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                console=err,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("sync", total=None, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def log(self, line: str) -> None:
        (self._progress.console if self._progress is not None else err).print(line, markup=False)

    def show(self, progress: Progress) -> None:
        stats = progress.stats
        elapsed = max(1e-6, time.monotonic() - stats.started_s)
        detail = (
            f"{stats.bytes_sent / 1e6:.1f} MB, {stats.bytes_sent / elapsed / 1e3:.0f} kB/s, "
            f"retries {stats.retries}, held {progress.backlog}"
        )
        if self._progress is not None:
            state = progress.state if len(progress.state) < 60 else progress.state[:57] + "..."
            self._progress.update(
                self._task,
                description=state,
                completed=stats.acked,
                total=stats.acked + progress.backlog,
                detail=detail,
            )
        elif time.monotonic() - self._last_line >= 10.0:
            self._last_line = time.monotonic()
            sys.stderr.write(f"sync: {progress.state}; acked {stats.acked}, {detail}\n")
            sys.stderr.flush()


@dataclass(frozen=True)
class SyncFlags:
    """``run``/``serve``'s ``--hub URL --hub-token T --sync-rate R``, checked before models load."""

    hub: str
    token: str
    rate_bps: int | None
    heartbeat_s: float = 30.0
    mqtt: str | None = None


def sync_flags(
    hub: str | None,
    token: str | None,
    rate: str | None,
    spool: Path | None,
    heartbeat_s: float = 30.0,
    mqtt: str | None = None,
) -> SyncFlags | None:
    """The background sync settings (None without ``--hub``).

    Raises:
        ConfigError: ``--hub`` without ``--spool``, without a token, a bad URL, rate or MQTT URL.
    """
    from edgeloop.errors import ConfigError
    from edgeloop.improve.bandwidth import parse_rate
    from edgeloop.improve.sync_targets import target_kind

    if hub is None:
        if rate is not None:
            raise ConfigError("--sync-rate caps the background sync: add --hub URL")
        if mqtt is not None:
            raise ConfigError("--hub-mqtt tells when the hub changed something: add --hub URL")
        return None
    if mqtt is not None:
        from edgeloop.improve.hublink import check_mqtt_url

        check_mqtt_url(mqtt)
    target_kind(hub, None)
    if spool is None:
        raise ConfigError("--hub sends captured frames: add --capture POLICY.yaml --spool DIR")
    if not token:
        raise ConfigError(f"--hub needs the device's token: set {TOKEN_ENV} (or pass --hub-token)")
    return SyncFlags(hub, token, parse_rate(rate) if rate is not None else None, heartbeat_s, mqtt)


def start_background_sync(flags: SyncFlags, spool: Path, facts: Any = None) -> Any:
    """Start sync beside capture (``improve.background.BackgroundSync``) with heartbeats (``facts``:
    a callable returning ``improve.heartbeat.DeviceFacts``); None with a warning when the spool
    cannot be opened for it (capture off on a full disk): inference runs on."""
    from edgeloop.improve.background import BackgroundSync
    from edgeloop.improve.spool import SpoolError
    from edgeloop.improve.sync_targets import TargetOptions

    def log(line: str) -> None:
        if err.is_terminal:  # below a status line that is redrawn in place
            sys.stderr.write("\r\x1b[2K")
        err.print(f"sync: {line}", markup=False)

    try:
        sync = BackgroundSync(
            spool,
            "hub",
            TargetOptions(flags.hub, flags.token),
            flags.rate_bps,
            log=log,
            heartbeat_s=flags.heartbeat_s,
            mqtt_url=flags.mqtt,
            **({"facts": facts} if facts is not None else {}),
        )
    except SpoolError as exc:
        err.print(f"warning: sync is off for this run: {exc}", markup=False)
        return None
    cap = f", at most {flags.rate_bps} bytes/s" if flags.rate_bps else ""
    err.print(f"syncing {spool} to {sync.target.description}{cap}", markup=False)
    return sync


def capture_facts(captures: list[Any], manifest: Any) -> Any:
    """What ``run`` reports in heartbeats: the bundle, frames offered to capture, capture's drops."""
    from edgeloop.improve.heartbeat import DeviceFacts, capture_drops

    def facts() -> DeviceFacts:
        counters = [c.counters() for c in captures]
        off = [f"capture is off: {c.unavailable}" for c in captures if c.unavailable]
        return DeviceFacts(
            manifest.name,
            str(manifest.version),
            sum(int(c.get("offered", 0)) for c in counters),
            sum(capture_drops(c) for c in counters),
            off[0] if off else None,
        )

    return facts


def serve_facts(state: Any, manager: Any) -> Any:
    """What ``serve`` reports in heartbeats: its models (``name:version``, several joined by
    commas), images offered to capture and capture's drops."""
    from edgeloop.improve.heartbeat import DeviceFacts, capture_drops

    models = sorted((name, str(worker.version)) for name, worker in manager.items())

    def facts() -> DeviceFacts:
        hook = state.capture
        counters = hook.run_counters() if hook is not None else {}
        names = ",".join(name for name, _ in models)
        version = models[0][1] if len(models) == 1 else ",".join(f"{name}:{v}" for name, v in models)
        frames = int(counters.get("offered", 0)) if hook is not None else None
        return DeviceFacts(names, version, frames, capture_drops(counters))

    return facts


def background_summary(sync: Any, stats: Any) -> str:
    """The summary line of a background sync that has stopped."""
    why = f"; stopped early: {sync.error}" if sync.error else ""
    return f"sync to {sync.target.description}: {stats.line()}{link_line(sync.link)}{why}"


def link_line(link: Any) -> str:
    """``; heartbeats N sent, M failed`` of a ``HubLink`` ("" without one)."""
    if link is None:
        return ""
    return f"; heartbeats {link.sent} sent, {link.failures} failed"


def hub_option() -> Any:
    """``--hub URL`` of run and serve."""
    return typer.Option(
        None,
        "--hub",
        help="Send captured frames to this hub as they are kept (needs --spool; docs/hub/sync.md).",
    )


def hub_token_option() -> Any:
    """``--hub-token`` of run and serve (``--token`` of serve is its own API token)."""
    return typer.Option(
        None,
        "--hub-token",
        envvar=TOKEN_ENV,
        show_default=False,
        help=f"The device's hub token; better set {TOKEN_ENV} (keeps it out of shell history).",
    )


def sync_rate_option() -> Any:
    """``--sync-rate`` of run and serve."""
    return typer.Option(None, "--sync-rate", help="Bandwidth cap of the sync to --hub, bytes/s: 500k, 2M.")
