"""``edgeloop hub worker``, ``edgeloop hub retrain`` and ``edgeloop hub model ls|show|add``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line
from edgeloop.cli.hub_label import open_hub

if TYPE_CHECKING:
    from edgeloop.hub.registry import ModelVersion

model_app = typer.Typer(help="The model registry: versions, lineage, gate verdicts.", no_args_is_help=True)

DATA = typer.Option(Path("hub-data"), "--data", help="Hub data folder (SQLite file and blobs by default).")
DB = typer.Option(
    None, "--db", help="Database URL (default sqlite in --data; postgresql://user@host:port/db)."
)
BLOBS = typer.Option(
    None, "--blobs", help="Blob store: a folder (default --data/blobs) or s3://bucket/prefix."
)
KEYS = typer.Option(None, "--keys", help="Signing keys folder (edgeloop keys generate --dir KEYS).")
AS_JSON = typer.Option(False, "--json", help="JSON instead of a table.")


def register(app: typer.Typer) -> None:
    """Add ``worker``, ``retrain`` and ``model`` to the ``hub`` command group."""
    app.command("worker")(worker)
    app.command("retrain")(retrain)
    app.add_typer(model_app, name="model")


@handle_errors
def worker(
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
    keys: Path | None = KEYS,
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs run at the same time."),
) -> None:
    """Run retrain jobs from the hub's PostgreSQL queue (procrastinate) on this machine, until Ctrl-C."""
    import asyncio
    import logging

    from edgeloop.errors import ConfigError
    from edgeloop.hub.jobs.pgqueue import work
    from edgeloop.hub.jobs.queue import worker_name
    from edgeloop.hub.jobs.runner import JobEnv

    if not db or not db.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise ConfigError(
            "edgeloop hub worker takes jobs from PostgreSQL: pass --db postgresql://...; "
            "on SQLite, edgeloop hub serve runs jobs itself"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    with open_hub(data, db, blobs) as (engine, store):
        env = JobEnv(engine, store, keys.resolve() if keys else None, worker_name("worker"))
        err.print(f"worker {env.worker}: waiting for jobs (concurrency {concurrency}); Ctrl-C stops")
        asyncio.run(work(db, env, concurrency))


def _params(
    dataset: str,
    model: str | None,
    field: str | None,
    snapshot: bool,
    train: dict[str, Any],
    gate: Path | None,
) -> Any:
    from edgeloop.retrain.params import parse_params

    rules: dict[str, Any] = {}
    if gate is not None:
        from edgeloop.optional import require

        yaml = require("yaml", "PyYAML", "hub", "gate rules")
        rules = yaml.safe_load(gate.read_text(encoding="utf-8")) or {}
    body = {"dataset": dataset, "model": model, "field": field, "snapshot": snapshot, "gate": rules}
    body["train"] = {k: v for k, v in train.items() if v is not None}
    return parse_params(body, "edgeloop hub retrain")


@handle_errors
def retrain(
    dataset: str = typer.Option(..., "--dataset", help="NAME or NAME@VERSION of a hub dataset."),
    model: str | None = typer.Option(None, "--model", help="Registry name (default: the dataset's)."),
    field: str | None = typer.Option(
        None, "--field", help="Dataset whose newest test split is the field set."
    ),
    snapshot: bool = typer.Option(
        False, "--snapshot", help="First make a new dataset version of the labels."
    ),
    imgsz: int | None = typer.Option(None, "--imgsz", help="Training image size."),
    time_s: float | None = typer.Option(None, "--time", help="Training time budget, seconds."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs."),
    batch: int | None = typer.Option(None, "--batch", help="Training batch."),
    gate: Path | None = typer.Option(None, "--gate", help="Gate rules (YAML), as for edgeloop gate --rules."),
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends (exit 3 when refused)."),
    data: Path = DATA,
    db: str | None = DB,
) -> None:
    """Queue a retrain job (a hub serve on SQLite, or edgeloop hub worker on PostgreSQL, runs it)."""
    from edgeloop.hub.jobs import dispatch

    train = {"imgsz": imgsz, "time_s": time_s, "epochs": epochs, "batch": batch}
    params = _params(dataset, model, field, snapshot, train, gate)
    with open_hub(data, db, None) as (engine, _):
        from edgeloop.hub import datasets

        if not params.snapshot:
            datasets.show(engine, params.dataset_name, params.dataset_version)
        job = dispatch.submit(engine, "retrain", params.model_dump(), "manual (edgeloop hub retrain)")
        err.print(f"job {job.id} queued: retrain {params.model_name} on {params.dataset}")
        stdout_line(str(job.id))
        if wait:
            _follow(engine, job.id)


def _follow(engine: Any, job_id: int) -> None:
    from edgeloop.hub.jobs import queue

    printed = 0
    while True:
        job = queue.get(engine, job_id)
        lines = job.log.splitlines()
        for line in lines[printed:] if len(lines) >= printed else lines:
            err.print(f"  {line}", markup=False, highlight=False)
        printed = len(lines)
        if job.status in ("done", "failed", "cancelled"):
            break
        time.sleep(1.0)
    if job.status != "done":
        err.print(f"job {job_id} {job.status}: {job.error or ''}", markup=False)
        raise typer.Exit(1)
    result = job.result or {}
    err.print(f"job {job_id} done: {result.get('model')}@{result.get('version')} {result.get('status')}")
    if result.get("status") != "published":
        raise typer.Exit(3)


def _line(m: ModelVersion) -> str:
    from edgeloop.improve.inventory import iso_utc

    gate = m.gate or {}
    verdict = "-" if not gate else ("passed" if gate.get("passed") else "refused")
    dataset = f"{m.dataset_name}@{m.dataset_version}" if m.dataset_name else "-"
    score = m.metrics.get("map50_95")
    counter = "-" if m.counter is None else m.counter
    return (
        f"{m.name + '@' + str(m.version):<24} {m.status:<10} {iso_utc(m.created_at)}  "
        f"parent {m.parent_version or '-':<4} data {dataset:<16} map50_95 "
        f"{'-' if score is None else f'{score:.4f}'}  gate {verdict:<8} counter {counter}"
    )


@model_app.command("ls")
@handle_errors
def model_ls(
    name: str | None = typer.Argument(None, help="Only this model's versions."),
    data: Path = DATA,
    db: str | None = DB,
    as_json: bool = AS_JSON,
) -> None:
    """List model versions: status, lineage, mAP, gate verdict, signed counter."""
    from edgeloop.hub import registry

    with open_hub(data, db, None) as (engine, _):
        found = registry.list_versions(engine, name)
    for m in found:
        stdout_line(json.dumps(m.as_dict(gate=False)) if as_json else _line(m))


@model_app.command("show")
@handle_errors
def model_show(
    ref: str = typer.Argument(..., help="NAME (the current published version) or NAME@VERSION."),
    data: Path = DATA,
    db: str | None = DB,
) -> None:
    """One version as JSON, with its whole gate report."""
    from edgeloop.hub import registry

    name, version = registry.parse_ref(ref)
    with open_hub(data, db, None) as (engine, _):
        found = registry.show(engine, name, version)
    stdout_line(json.dumps(found.as_dict(), indent=1))


@model_app.command("add")
@handle_errors
def model_add(
    source: Path = typer.Argument(..., help="A run folder (edgeloop train --out RUN) or a bundle folder."),
    name: str = typer.Option(..., "--name", help="Registry name of the model."),
    keys: Path = typer.Option(..., "--keys", help="Signing keys folder (edgeloop keys generate --dir KEYS)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Hub dataset NAME@VERSION it was trained on."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="Training checkpoint of a bundle."),
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
) -> None:
    """Add a model version by hand (the first, current model): signed, published, no gate."""
    from edgeloop.hub.jobs.seed import add_model

    with open_hub(data, db, blobs) as (engine, store):
        found = add_model(engine, store, source.resolve(), name, keys.resolve(), dataset, checkpoint)
    err.print(f"{found.name}@{found.version} published (counter {found.counter}, key {found.key_id})")
    stdout_line(_line(found))
