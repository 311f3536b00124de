"""``edgeloop hub``: the fleet hub (serve, migrate, devices, the admin token)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from edgeloop.cli import hub_dataset, hub_jobs, hub_rollout
from edgeloop.cli.common import err, handle_errors
from edgeloop.cli.hub_label import app as label_app

app = typer.Typer(
    name="hub", help="The hub: devices upload samples to it; datasets come out.", no_args_is_help=True
)
device_app = typer.Typer(help="Register, list and revoke devices.", no_args_is_help=True)
token_app = typer.Typer(help="The admin token.", no_args_is_help=True)
app.add_typer(device_app, name="device")
app.add_typer(label_app, name="label")
app.add_typer(token_app, name="token")
app.add_typer(hub_dataset.app, name="dataset")
hub_jobs.register(app)
hub_rollout.register(app, device_app)

DATA = typer.Option(Path("hub-data"), "--data", help="Hub data folder (SQLite file, blobs, admin token).")
DB = typer.Option(
    None, "--db", help="Database URL (default sqlite in --data; postgresql://user@host:port/db)."
)


def _config(data: Path, db: str | None, **extra: Any) -> Any:
    from edgeloop.hub.config import HubConfig

    return HubConfig(data_dir=data.resolve(), db_url=db, **extra)


@app.command("serve")
@handle_errors
def serve(
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = typer.Option(
        None, "--blobs", help="Blob store: a folder (default --data/blobs) or s3://bucket/prefix."
    ),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (loopback unless an admin token is configured)."
    ),
    port: int = typer.Option(8700, min=1, max=65535, help="Port to listen on."),
    mqtt: str | None = typer.Option(
        None, "--mqtt", help="Notify devices through an MQTT broker: mqtt://host:port."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Hub processes (stateless; share the port)."
    ),
    admin_token_file: Path | None = typer.Option(
        None,
        "--admin-token-file",
        help="File holding the admin token (else $EDGELOOP_HUB_ADMIN_TOKEN, else DATA/admin.token).",
    ),
    keys: Path | None = typer.Option(
        None, "--keys", help="Signing keys folder for published models (edgeloop keys generate --dir KEYS)."
    ),
    retrain: Path | None = typer.Option(
        None, "--retrain", help="Retrain plan (YAML): dataset, model, training, gate rules, triggers."
    ),
    worker: bool | None = typer.Option(
        None,
        "--worker/--no-worker",
        help="Run retrain jobs in this process (default: on SQLite yes, on PostgreSQL no: hub worker).",
    ),
) -> None:
    """Run the hub: migrate the database, then serve the API (and run retrain jobs on SQLite)."""
    import uvicorn

    from edgeloop.hub.app import CONFIG_ENV
    from edgeloop.hub.jobs.service import start_services
    from edgeloop.hub.setup import check_exposure, prepare
    from edgeloop.serve.listen import bind_socket

    config = _config(
        data,
        db,
        blobs_url=blobs,
        host=host,
        port=port,
        mqtt_url=mqtt,
        admin_token_file=admin_token_file.resolve() if admin_token_file else None,
        keys_dir=keys.resolve() if keys else None,
        retrain_file=retrain.resolve() if retrain else None,
        worker=worker,
    )
    check_exposure(config)
    bind_socket(host, port).close()  # a busy port is one clear error, before anything else
    admin = prepare(config)
    if admin.created:
        err.print(f"created the admin token in {admin.source} (mode 0600); keep it secret")
    else:
        err.print(f"admin token: {admin.source}")
    os.environ[CONFIG_ENV] = config.model_dump_json()
    kind = "postgresql" if config.database_url.startswith("postgresql") else "sqlite"
    err.print(f"hub on http://{host}:{port} ({workers} process(es), {kind} database, blobs {config.blobs})")
    services = start_services(config)
    try:
        uvicorn.run(
            "edgeloop.hub.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=os.environ.get("EDGELOOP_LOG", "info"),
            timeout_graceful_shutdown=5,
        )
    finally:
        services.close()


@app.command("migrate")
@handle_errors
def migrate(data: Path = DATA, db: str | None = DB) -> None:
    """Create or upgrade the hub's database schema."""
    from edgeloop.hub.db import create_engine
    from edgeloop.hub.migrations import current
    from edgeloop.hub.setup import migrate as run

    config = _config(data, db)
    run(config)
    engine = create_engine(config.database_url)
    try:
        err.print(f"database at revision {current(engine)}")
    finally:
        engine.dispose()


def _admin_engine(data: Path, db: str | None) -> Any:
    from edgeloop.hub.db import create_engine
    from edgeloop.hub.setup import migrate as run

    config = _config(data, db)
    run(config)
    return create_engine(config.database_url)


@device_app.command("add")
@handle_errors
def device_add(
    name: str = typer.Argument(..., help="Device name (letters, digits, . _ -)."),
    group: str = typer.Option("default", "--group", help="Group (for rollouts and notifications)."),
    data: Path = DATA,
    db: str | None = DB,
) -> None:
    """Register a device and print its token (shown once; stored hashed)."""
    from edgeloop.hub.devices import add_device
    from edgeloop.hub.events import Events

    engine = _admin_engine(data, db)
    try:
        token = add_device(engine, Events(engine), name, group)
    finally:
        engine.dispose()
    err.print(f"device '{name}' added to group '{group}'; its token (shown once, store it on the device):")
    typer.echo(token)


@device_app.command("revoke")
@handle_errors
def device_revoke(
    name: str = typer.Argument(..., help="Device name."), data: Path = DATA, db: str | None = DB
) -> None:
    """Revoke a device and all its tokens (its samples stay)."""
    from edgeloop.hub.devices import revoke_device
    from edgeloop.hub.events import Events

    engine = _admin_engine(data, db)
    try:
        revoke_device(engine, Events(engine), name)
    finally:
        engine.dispose()
    err.print(f"device '{name}' revoked")


@device_app.command("ls")
@handle_errors
def device_ls(
    data: Path = DATA,
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List devices with their last heartbeat."""
    import time

    from edgeloop.hub.devices import list_devices

    engine = _admin_engine(data, db)
    try:
        rows = list_devices(engine)
    finally:
        engine.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    line = "{:<24} {:<12} {:<8} {:>10} {:<16} {:<8} {:>6} {:>8}"
    typer.echo(line.format("NAME", "GROUP", "STATE", "LAST SEEN", "MODEL", "HEALTH", "FPS", "BACKLOG"))
    now = time.time()
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        seen = f"{now - r['last_seen']:.0f}s ago" if r["last_seen"] else "never"
        fps = f"{r['fps']:.1f}" if r["fps"] is not None else "-"
        backlog = str(r["backlog"]) if r["backlog"] is not None else "-"
        model = r["model_version"] or "-"
        typer.echo(line.format(r["name"], r["group"], state, seen, model, r["health"], fps, backlog))


@token_app.command("admin")
@handle_errors
def token_admin(
    data: Path = DATA,
    new: bool = typer.Option(
        False, "--new", help="Replace DATA/admin.token with a new token (restart the hub)."
    ),
) -> None:
    """Say where the admin token is (creating DATA/admin.token if there is none); never prints it."""
    from edgeloop.hub.auth import load_admin_token, rotate_admin_token

    if new:
        path = rotate_admin_token(data.resolve())
        err.print(f"new admin token written to {path} (mode 0600); restart the hub to use it")
        return
    admin = load_admin_token(_config(data, None), create=True)
    verb = "created" if admin.created else "is"
    err.print(f"the admin token {verb} in {admin.source}; read it with: cat {admin.source}")
