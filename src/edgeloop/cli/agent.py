"""``edgeloop agent``: keep a models folder up to date from the hub or a watched folder; ``agent status``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from edgeloop.cli.common import err, handle_errors, run_until_signalled, stdout_line

if TYPE_CHECKING:
    from edgeloop.agent.contract import HealthCheck, UpdateSource, Window

app = typer.Typer(
    help="Keep a models folder up to date: download, verify, check, switch, watch, commit or roll back.",
)


def _checks(
    window_s: float, check_timeout_s: float = 60.0, check_cpu_s: float | None = None
) -> tuple[HealthCheck, Window]:
    """The health check (a separate process) and the health window over the serving processes' stats."""
    from edgeloop.agent.healthcheck import ProcessHealthCheck
    from edgeloop.agent.window import StatsWindow

    health = ProcessHealthCheck(timeout_s=check_timeout_s, cpu_limit_s=check_cpu_s)
    return health, StatsWindow(duration_s=window_s)


def _source(
    models: Path, watch: Path | None, hub: str | None, token: str | None, mqtt: str | None, poll_s: float
) -> UpdateSource:
    from edgeloop.errors import ConfigError

    if (watch is None) == (hub is None):
        raise ConfigError(
            "give either --hub URL --token T (updates from the hub) or --watch DIR (dropped bundles)"
        )
    if watch is not None:
        from edgeloop.agent.folder import FolderSource

        return FolderSource(watch, models, poll_s=min(poll_s, 1.0))
    if not token:
        raise ConfigError("--hub needs --token (the device token from `edgeloop hub device add`)")
    from edgeloop.agent.hubclient import HubSource

    assert hub is not None
    return HubSource(hub, token, models, mqtt_url=mqtt, poll_s=poll_s)


@app.callback(invoke_without_command=True)
@handle_errors
def agent(
    ctx: typer.Context,
    models: Path | None = typer.Option(
        None, "--models", help="Models folder that serve/run --models follow."
    ),
    keys: Path | None = typer.Option(
        None, "--keys", help="Pinned key ring (keyring.json) bundles must be signed by."
    ),
    hub: str | None = typer.Option(None, "--hub", help="Hub URL to take updates from."),
    token: str | None = typer.Option(None, "--token", envvar="EDGELOOP_DEVICE_TOKEN", help="Device token."),
    mqtt: str | None = typer.Option(None, "--mqtt", help="MQTT URL for update notices (polling stays on)."),
    poll_s: float = typer.Option(30.0, "--poll-s", min=0.05, help="Seconds between polls."),
    watch: Path | None = typer.Option(
        None, "--watch", help="Folder where signed bundle .tar files or folders are dropped."
    ),
    once: bool = typer.Option(False, "--once", help="Process one offer (waiting for it), then exit."),
    window_s: float = typer.Option(
        300.0, "--window-s", min=0, help="Seconds to watch a new version before commit."
    ),
    check_timeout_s: float = typer.Option(
        60.0, "--check-timeout-s", min=1, help="Seconds the health check may run before it is a reject."
    ),
    check_cpu_s: float | None = typer.Option(
        None,
        "--check-cpu-s",
        min=1,
        help="CPU seconds the health check may use (the kernel stops it past them); default: "
        "--check-timeout-s x the number of cores.",
    ),
    max_crashes: int = typer.Option(3, "--max-crashes", min=1, help="Starts without commit before a revert."),
    min_free_mb: float = typer.Option(
        16.0, "--min-free-mb", min=0, help="Space to leave free after download/unpack."
    ),
) -> None:
    """Run the update agent: `--models DIR --keys keyring.json` and `--hub URL --token T` or `--watch DIR`."""
    if ctx.invoked_subcommand is not None:
        return
    from edgeloop.agent.agent import Agent
    from edgeloop.errors import ConfigError
    from edgeloop.signing import Keyring

    if models is None or keys is None:
        raise ConfigError("give --models DIR and --keys keyring.json (see `edgeloop agent --help`)")
    ring = Keyring.load(keys)
    source = _source(models, watch, hub, token, mqtt, poll_s)
    health, window = _checks(window_s, check_timeout_s, check_cpu_s)
    runner = Agent(
        models, source, ring, health, window, margin_bytes=int(min_free_mb * 1e6), max_crashes=max_crashes
    )
    try:
        final = runner.start()
        if final is not None:
            err.print(f"recovered: {final} ({runner.models.read_state().get('reason', '')})")
        if final is None or not once:
            err.print(f"agent watching {'the hub ' + str(hub) if hub else watch} for {models}")
            final, _ = run_until_signalled(lambda: runner.run(once=once, poll_s=poll_s), runner.stop.set)
    finally:
        source.close()
    if once:
        record = runner.models.read_state()
        err.print(f"{final}: {record.get('reason', '')}")
        if final != "committed":
            raise typer.Exit(2)


def _status_lines(record: dict[str, Any], current: str | None, previous: str | None) -> list[str]:
    lines = [
        f"state     {record.get('state')}  (since {record.get('since', '-')})",
        f"reason    {record.get('reason') or '-'}",
        f"current   {current or '-'}",
        f"previous  {previous or '-'}",
    ]
    if record.get("name"):
        lines.append(
            f"offer     {record.get('name')} v{record.get('version')} key {record.get('key') or '-'}"
        )
    history = record.get("history") or []
    if history:
        lines.append("history (newest last):")
        for h in history[-10:]:
            lines.append(
                f"  {h.get('at')}  {h.get('state'):<11} {h.get('name')} v{h.get('version')}  "
                f"{h.get('reason')}"
            )
    return lines


@app.command("status")
@handle_errors
def status(
    models: Path = typer.Option(..., "--models", help="Models folder."),
    as_json: bool = typer.Option(False, "--json", help="Print state.json as it is."),
) -> None:
    """Print the agent's state, the current and previous versions, and the recent outcomes."""
    from edgeloop.agent.models import ModelsDir
    from edgeloop.errors import ConfigError

    folder = ModelsDir(models)
    if not folder.root.is_dir():
        raise ConfigError(f"{models}: no such models folder")
    record = folder.read_state()
    if as_json:
        stdout_line(json.dumps(record, indent=2, ensure_ascii=False))
        return
    for line in _status_lines(record, folder.current_key(), folder.previous_key()):
        stdout_line(line)
