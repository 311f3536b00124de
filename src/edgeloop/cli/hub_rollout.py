"""``edgeloop hub rollout create|ls|show|promote|pause|resume|abort``, ``edgeloop hub device pin|unpin``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line
from edgeloop.cli.hub_jobs import AS_JSON, BLOBS, DATA, DB
from edgeloop.cli.hub_label import open_hub

rollout_app = typer.Typer(
    help="Send a model version to a device group, canaries first; promote, pause, resume, abort.",
    no_args_is_help=True,
)
MQTT = typer.Option(
    None, "--mqtt", help="The broker the hub publishes to (mqtt://host:port), to wake devices at once."
)


def register(app: typer.Typer, device_app: typer.Typer) -> None:
    """Add ``rollout`` to ``hub`` and ``pin``/``unpin`` to ``hub device``."""
    app.add_typer(rollout_app, name="rollout")
    device_app.command("pin")(pin)
    device_app.command("unpin")(unpin)


@contextlib.contextmanager
def _hub(data: Path, db: str | None, blobs: str | None, mqtt: str | None) -> Iterator[tuple[Any, Any, Any]]:
    from edgeloop.hub.events import Events

    with open_hub(data, db, blobs) as (engine, store):
        events = Events(engine, mqtt)
        try:
            yield engine, store, events
        finally:
            events.close()


def _counts(counts: dict[str, int]) -> str:
    order = ("committed", "pending", "waiting", "downloading", "rejected", "rolled_back")
    keys = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    return " ".join(f"{k} {counts[k]}" for k in keys if counts[k]) or "-"


def _line(r: dict[str, Any]) -> str:
    committed = r["counts"].get("committed", 0)
    return (
        f"{r['id']:<5} {r['ref']:<20} {r['group']:<14} {r['state']:<8} {committed}/{r['targets']:<6} "
        f"canary {len(r['canaries'])} ({r['canary_share']:.0%})  {_counts(r['counts'])}  {r['reason']}"
    )


@rollout_app.command("create")
@handle_errors
def create(
    model: str = typer.Argument(..., help="Registry model name."),
    version: int = typer.Argument(..., min=1, help="A published version (edgeloop hub model ls)."),
    group: str = typer.Option("default", "--group", help="Device group to update."),
    canary: float = typer.Option(0.1, "--canary", min=0.0, max=1.0, help="Share of the group updated first."),
    auto_promote: bool = typer.Option(
        True, "--auto-promote/--no-auto-promote", help="Go to the whole group once every canary committed."
    ),
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
    mqtt: str | None = MQTT,
) -> None:
    """Start a rollout: the canaries get the version first; prints its id."""
    from edgeloop.hub import rollouts

    with _hub(data, db, blobs, mqtt) as (engine, store, events):
        r = rollouts.create(engine, store, events, model, version, group, canary, auto_promote)
    err.print(f"rollout {r.id}: {r.model}@{r.version} to group {r.group}, {r.state} ({r.reason})")
    if r.canaries:
        err.print(f"canaries: {', '.join(r.canaries)}", markup=False)
    stdout_line(str(r.id))


@rollout_app.command("ls")
@handle_errors
def ls(data: Path = DATA, db: str | None = DB, as_json: bool = AS_JSON) -> None:
    """Every rollout, newest first: state, progress, counts by device state, reason."""
    from edgeloop.hub import assignments

    with open_hub(data, db, None) as (engine, _):
        found = assignments.summaries(engine)
    for r in found:
        stdout_line(json.dumps(r) if as_json else _line(r))


@rollout_app.command("show")
@handle_errors
def show(
    rollout_id: int = typer.Argument(..., help="Rollout id (edgeloop hub rollout ls)."),
    data: Path = DATA,
    db: str | None = DB,
    as_json: bool = AS_JSON,
) -> None:
    """One rollout with every device's state and reason."""
    from edgeloop.hub import assignments

    with open_hub(data, db, None) as (engine, _):
        found = assignments.detail(engine, rollout_id)
    if as_json:
        stdout_line(json.dumps(found, indent=1))
        return
    stdout_line(_line(found))
    for d in found["devices"]:
        mark = "canary" if d["canary"] else ""
        stdout_line(f"  {d['device']:<24} {mark:<7} {d['state']:<13} {d['reason']}")


def _action(name: str) -> Any:
    @handle_errors
    def run(
        rollout_id: int = typer.Argument(..., help="Rollout id (edgeloop hub rollout ls)."),
        data: Path = DATA,
        db: str | None = DB,
        mqtt: str | None = MQTT,
    ) -> None:
        from edgeloop.hub import rollouts

        with _hub(data, db, None, mqtt) as (engine, _, events):
            r = getattr(rollouts, name)(engine, events, rollout_id)
        err.print(f"rollout {r.id}: {r.state} ({r.reason})")

    run.__doc__ = {
        "promote": "Send a rollout in canary to the whole group.",
        "pause": "Stop handing the version to devices that have not started.",
        "resume": "Go on with a paused rollout.",
        "abort": "Stop a rollout for good (devices that committed keep the version).",
    }[name]
    return run


for _name in ("promote", "pause", "resume", "abort"):
    rollout_app.command(_name)(_action(_name))


@handle_errors
def pin(
    name: str = typer.Argument(..., help="Device name."),
    model: str = typer.Argument(..., help="Registry model name."),
    version: int = typer.Argument(..., min=1, help="A published version."),
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
    mqtt: str | None = MQTT,
) -> None:
    """Pin a device to a model version: it wins over every rollout until unpin."""
    from edgeloop.hub import assignments

    with _hub(data, db, blobs, mqtt) as (engine, store, events):
        assignments.pin(engine, store, events, name, model, version)
    err.print(f"device {name} pinned to {model}@{version}")


@handle_errors
def unpin(
    name: str = typer.Argument(..., help="Device name."),
    data: Path = DATA,
    db: str | None = DB,
    mqtt: str | None = MQTT,
) -> None:
    """Remove a device's pin; its group's rollouts apply again."""
    from edgeloop.hub import assignments

    with _hub(data, db, None, mqtt) as (engine, _, events):
        assignments.unpin(engine, events, name)
    err.print(f"device {name} unpinned; its group's rollouts apply again")
