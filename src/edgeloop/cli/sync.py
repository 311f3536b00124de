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
) -> None:
    """Send captured samples home: each leaves the spool only once the target holds it.

    Runs beside `edgeloop run --capture` (the spool stays theirs); Ctrl-C stops cleanly.
    """
    from edgeloop.improve.acker import SpoolAcker
    from edgeloop.improve.bandwidth import parse_rate
    from edgeloop.improve.sync import SyncFailed, Syncer
    from edgeloop.improve.sync_targets import TargetOptions, TargetRefused, open_target, target_kind

    kind = target_kind(hub, to)
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
            target.close()
        _summary(syncer, summary_json, acker, stopped_by[0] if stopped_by else None)


def _summary(syncer: Any, as_json: bool, acker: Any, stopped_by: str | None = None) -> None:
    backlog, size = acker.backlog()
    if as_json:
        report = {**syncer.stats.as_dict(), "backlog": backlog, "backlog_bytes": size}
        err.print(json.dumps(report), markup=False, highlight=False)
        return
    how = f"stopped by {stopped_by}: " if stopped_by else ""
    err.print(f"{how}{syncer.stats.line()}; {backlog} still held ({size / 1e6:.1f} MB)", markup=False)


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


def sync_flags(hub: str | None, token: str | None, rate: str | None, spool: Path | None) -> SyncFlags | None:
    """The background sync settings (None without ``--hub``).

    Raises:
        ConfigError: ``--hub`` without ``--spool``, without a token, a bad URL or rate.
    """
    from edgeloop.errors import ConfigError
    from edgeloop.improve.bandwidth import parse_rate
    from edgeloop.improve.sync_targets import target_kind

    if hub is None:
        if rate is not None:
            raise ConfigError("--sync-rate caps the background sync: add --hub URL")
        return None
    target_kind(hub, None)
    if spool is None:
        raise ConfigError("--hub sends captured frames: add --capture POLICY.yaml --spool DIR")
    if not token:
        raise ConfigError(f"--hub needs the device's token: set {TOKEN_ENV} (or pass --hub-token)")
    return SyncFlags(hub, token, parse_rate(rate) if rate is not None else None)


def start_background_sync(flags: SyncFlags, spool: Path) -> Any:
    """Start sync beside capture (``improve.background.BackgroundSync``); None with a warning when the
    spool cannot be opened for it (capture off on a full disk): inference runs on."""
    from edgeloop.improve.background import BackgroundSync
    from edgeloop.improve.spool import SpoolError
    from edgeloop.improve.sync_targets import TargetOptions

    def log(line: str) -> None:
        if err.is_terminal:  # below a status line that is redrawn in place
            sys.stderr.write("\r\x1b[2K")
        err.print(f"sync: {line}", markup=False)

    try:
        sync = BackgroundSync(spool, "hub", TargetOptions(flags.hub, flags.token), flags.rate_bps, log=log)
    except SpoolError as exc:
        err.print(f"warning: sync is off for this run: {exc}", markup=False)
        return None
    cap = f", at most {flags.rate_bps} bytes/s" if flags.rate_bps else ""
    err.print(f"syncing {spool} to {sync.target.description}{cap}", markup=False)
    return sync


def background_summary(sync: Any, stats: Any) -> str:
    """The summary line of a background sync that has stopped."""
    why = f"; stopped early: {sync.error}" if sync.error else ""
    return f"sync to {sync.target.description}: {stats.line()}{why}"


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
