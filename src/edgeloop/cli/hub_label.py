"""``edgeloop hub label``: pending samples out to a labelling tool, labelled results back in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    import sqlalchemy as sa

app = typer.Typer(
    help="Hand samples to a labelling tool (Label Studio, CVAT, COCO, YOLO) and take the labels back.",
    no_args_is_help=True,
)

DATA = typer.Option(Path("hub-data"), "--data", help="Hub data folder (SQLite file, blobs), as for serve.")
DB = typer.Option(
    None, "--db", help="Database URL (default sqlite in --data; postgresql://user@host:port/db)."
)
BLOBS = typer.Option(
    None, "--blobs", help="Blob store: a folder (default --data/blobs) or s3://bucket/prefix."
)


@contextmanager
def open_hub(data: Path, db: str | None, blobs: str | None) -> Iterator[tuple[sa.Engine, Any]]:
    """The hub's engine (schema migrated, as every admin command does) and blob store."""
    from edgeloop.hub.blobs import open_blobs
    from edgeloop.hub.config import HubConfig
    from edgeloop.hub.db import create_engine
    from edgeloop.hub.setup import migrate

    config = HubConfig(data_dir=data.resolve(), db_url=db, blobs_url=blobs)
    migrate(config)
    engine = create_engine(config.database_url)
    store = open_blobs(config.blobs)
    try:
        yield engine, store
    finally:
        store.close()
        engine.dispose()


def _time(value: str | None) -> float | None:
    from edgeloop.improve.inventory import parse_time

    return None if value is None else parse_time(value)


@app.command("export")
@handle_errors
def export(
    format: str = typer.Option(..., "--format", help="labelstudio, cvat, coco or yolo (or voc)."),
    out: Path = typer.Option(..., "--out", help="New folder to write the tasks / dataset and images to."),
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
    status: str = typer.Option("pending", "--status", help="pending, labelled, rejected or all."),
    device: str | None = typer.Option(None, "--device", help="Only this device's samples."),
    sampler: str | None = typer.Option(None, "--sampler", help="Only samples kept by this sampler."),
    class_name: str | None = typer.Option(None, "--class", help="Only samples predicted to hold this class."),
    since: str | None = typer.Option(None, "--since", help="Captured since: a duration ago (12h) or a date."),
    until: str | None = typer.Option(None, "--until", help="Captured before: a duration ago or a date."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many (oldest first)."),
    names: str | None = typer.Option(None, "--names", help="Class names in order: 'a,b,c' or a file."),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", min=0.0, max=1.0, help="Leave out predictions below this confidence."
    ),
    image_url: str | None = typer.Option(
        None, "--image-url", help="Label Studio: URL prefix the images/ folder is served under."
    ),
    document_root: Path | None = typer.Option(
        None,
        "--document-root",
        help="Label Studio: LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: OUT's parent folder).",
    ),
) -> None:
    """Write pending samples with the devices' predictions as pre-annotations, for a labelling tool."""
    from edgeloop.hub.labelling import PendingFilter, export_pending
    from edgeloop.importer import parse_names

    filters = PendingFilter(status, device, sampler, class_name, _time(since), _time(until), limit)
    order = tuple(parse_names(names)) if names else None
    with open_hub(data, db, blobs) as (engine, store), engine.connect() as conn:
        result = export_pending(
            conn, store, out, format, filters, image_url, document_root, order, min_confidence
        )
    err.print(
        f"exported {result.images} samples, {result.boxes} pre-annotated boxes, classes "
        f"{', '.join(result.names) or '-'} ({result.format})"
    )
    if result.missing:
        err.print(f"{result.missing} samples left out: their image is no longer in the blob store")
    if result.unknown_boxes:
        err.print(f"{result.unknown_boxes} predictions of classes not in --names left out")
    if format == "labelstudio":
        err.print(
            f"Label Studio: create a project with {out / 'label_config.xml'}, add a local-files storage "
            f"for {out / 'images'}, then import {out / 'tasks.json'}"
        )
    stdout_line(str(out))


@app.command("import")
@handle_errors
def import_(
    path: Path = typer.Argument(
        ..., help="A Label Studio JSON export, a CVAT for images 1.1 XML or zip, a COCO or YOLO folder."
    ),
    format: str | None = typer.Option(
        None, "--format", help="labelstudio, cvat, coco, yolo or voc (default: detected)."
    ),
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
    by: str = typer.Option("", "--by", help="Who labelled (stored as labelled_by; default: the format)."),
    names: str | None = typer.Option(None, "--names", help="Class names in order (default: the tool's)."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Then create a new version of this dataset from the labelled samples."
    ),
) -> None:
    """Set the labels a labelling tool exported on their samples (matched by sha256), in one transaction."""
    from edgeloop.hub.db import writing
    from edgeloop.hub.labelling import import_labelled, summary
    from edgeloop.importer import parse_names

    order = tuple(parse_names(names)) if names else None
    create = _create_version() if dataset is not None else None  # before anything changes
    with open_hub(data, db, blobs) as (engine, store):
        with writing(engine) as conn:
            report = import_labelled(conn, store, path, format, by, order)
        for line in summary(report):
            err.print(line)
        if create is not None and dataset is not None:
            version = create(engine, dataset, note=f"labels imported from {path.name}")
            counts = ", ".join(f"{k} {v}" for k, v in version.counts.items())
            state = "new" if version.created else "unchanged: the latest version already holds these labels"
            err.print(f"dataset {version.name} v{version.version} ({counts}; {state})")
    stdout_line(str(report.matched))


def _create_version() -> Any:
    """``edgeloop.hub.datasets.create_version`` (the hub's dataset versions)."""
    import importlib

    from edgeloop.errors import ConfigError

    try:
        return importlib.import_module("edgeloop.hub.datasets").create_version
    except (ImportError, AttributeError):
        raise ConfigError(
            "--dataset needs the hub's dataset versions (edgeloop.hub.datasets), missing from this "
            "install; import without --dataset, then create the version with `edgeloop hub dataset create`"
        ) from None
