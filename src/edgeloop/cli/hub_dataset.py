"""``edgeloop hub dataset``: create, list, show and export dataset versions, straight on the hub's data."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    import sqlalchemy as sa

    from edgeloop.hub.manifest import DatasetVersion

app = typer.Typer(
    help="Dataset versions of the hub's samples: immutable, fingerprinted, with a fixed test split.",
    no_args_is_help=True,
)

DATA = typer.Option(Path("hub-data"), "--data", help="Hub data folder (SQLite file and blobs by default).")
DB = typer.Option(
    None, "--db", help="Database URL (default sqlite in --data; postgresql://user@host:port/db)."
)
BLOBS = typer.Option(
    None, "--blobs", help="Blob store: a folder (default --data/blobs) or s3://bucket/prefix."
)
AS_JSON = typer.Option(False, "--json", help="JSON instead of a table.")


@contextmanager
def _engine(data: Path, db: str | None) -> Iterator[sa.Engine]:
    from edgeloop.hub.config import HubConfig
    from edgeloop.hub.db import create_engine
    from edgeloop.hub.setup import migrate

    config = HubConfig(data_dir=data.resolve(), db_url=db)
    migrate(config)
    engine = create_engine(config.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _when(text: str | None) -> float | None:
    from edgeloop.improve.inventory import parse_time

    return None if text is None else parse_time(text)


def _line(v: DatasetVersion) -> str:
    from edgeloop.improve.inventory import iso_utc

    c = v.counts
    return (
        f"{v.name + '@' + str(v.version):<24} {iso_utc(v.created_at)}  "
        f"train {c['train']:>6}  val {c['val']:>6}  test {c['test']:>6}  "
        f"{len(v.names):>3} classes  {v.fingerprint[:12]}  {v.note}"
    ).rstrip()


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Dataset name (letters, digits, . _ -)."),
    device: str | None = typer.Option(None, "--device", help="Only samples from this device."),
    sampler: str | None = typer.Option(None, "--sampler", help="Only samples kept by this sampler."),
    class_name: str | None = typer.Option(None, "--class", help="Only images where the device predicted it."),
    since: str | None = typer.Option(None, "--since", help="Received at or after: 7d (ago) or 2026-05-01."),
    until: str | None = typer.Option(None, "--until", help="Received before: 1d (ago) or 2026-05-08."),
    include_pending: bool = typer.Option(
        False, "--include-pending", help="Also unreviewed samples, with the device's predictions as labels."
    ),
    train: float = typer.Option(0.8, "--train", help="Share of new samples for training."),
    val: float = typer.Option(0.1, "--val", help="Share of new samples for validation."),
    test: float = typer.Option(0.1, "--test", help="Share of new samples for the fixed test split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split of new samples."),
    note: str = typer.Option("", "--note", help="A note stored with the version."),
    data: Path = DATA,
    db: str | None = DB,
    as_json: bool = AS_JSON,
) -> None:
    """Create the next version from the labelled samples that match the filters.

    A sample's split is fixed the first time any version takes it: a test image never
    moves into training. Identical content gives back the latest version unchanged.
    """
    from edgeloop.hub.datasets import SampleFilter, create_version
    from edgeloop.hub.manifest import Fractions

    where = SampleFilter(device, sampler, class_name, _when(since), _when(until))
    fractions = Fractions(train, val, test)
    with _engine(data, db) as engine:
        version = create_version(
            engine,
            name,
            where=where,
            include="all" if include_pending else "labelled",
            allow_predictions=include_pending,
            fractions=fractions,
            seed=seed,
            note=note,
        )
    if as_json:
        stdout_line(json.dumps({**version.summary(), "created": version.created}))
        return
    if version.created:
        err.print(f"created {version.name}@{version.version} (parent {version.parent or '-'})")
    else:
        err.print(f"unchanged: the samples give exactly {version.name}@{version.version}; no new version")
    if version.counts["test"] == 0:
        err.print(
            "warning: no test images in this version (too few new samples, or --test 0); a model "
            "cannot be scored on it until more samples are labelled"
        )
    stdout_line(_line(version))


@app.command("ls")
@handle_errors
def ls(
    name: str | None = typer.Argument(None, help="Only this dataset's versions."),
    data: Path = DATA,
    db: str | None = DB,
    as_json: bool = AS_JSON,
) -> None:
    """List dataset versions: images per split, classes, fingerprint, note."""
    from edgeloop.hub.datasets import list_versions

    with _engine(data, db) as engine:
        found = list_versions(engine, name)
    if as_json:
        for v in found:
            stdout_line(json.dumps(v.summary()))
        return
    if not found:
        err.print("no dataset versions yet; create one with: edgeloop hub dataset create NAME")
    for v in found:
        stdout_line(_line(v))


@app.command("show")
@handle_errors
def show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION (default: the latest)."),
    items: bool = typer.Option(False, "--items", help="Also list every image: sha256, split, boxes."),
    data: Path = DATA,
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json", help="The version and its whole manifest as JSON."),
) -> None:
    """Describe one version: splits, classes with box counts, where labels came from."""
    from edgeloop.hub import datasets

    name, number = datasets.parse_ref(ref)
    with _engine(data, db) as engine:
        version = datasets.show(engine, name, number)
    assert version.manifest is not None
    if as_json:
        stdout_line(json.dumps({**version.summary(), "manifest": version.manifest}))
        return
    for line in describe(version, items):
        stdout_line(line)


def describe(version: DatasetVersion, items: bool = False) -> list[str]:
    """The lines ``show`` prints."""
    from edgeloop.improve.inventory import iso_utc

    assert version.manifest is not None
    entries: list[dict[str, Any]] = version.manifest["items"]
    boxes = {name: 0 for name in version.names}
    for entry in entries:
        for b in entry["labels"]["predictions"]:
            boxes[b["class"]] += 1
    from_predictions = sum(e["source"] == "predictions" for e in entries)
    c = version.counts
    lines = [
        f"dataset     {version.name}@{version.version} (parent {version.parent or '-'})",
        f"created     {iso_utc(version.created_at)}",
        f"fingerprint {version.fingerprint}",
        f"images      {len(entries)}: train {c['train']}, val {c['val']}, test {c['test']} (test is fixed)",
        f"labels      {len(entries) - from_predictions} by a person, {from_predictions} device predictions",
        "classes     " + ", ".join(f"{i}:{n} ({boxes[n]} boxes)" for i, n in enumerate(version.names)),
    ]
    if version.note:
        lines.append(f"note        {version.note}")
    if items:
        lines += [f"{e['sha256']}  {e['split']:<5}  {len(e['labels']['predictions'])} boxes" for e in entries]
    return lines


@app.command("export")
@handle_errors
def export(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION (default: the latest)."),
    out: Path = typer.Option(
        ..., "--out", help="New folder to write (train/, val/, test/ and dataset.json)."
    ),
    format: str = typer.Option("yolo", "--format", help="Dataset format: yolo, coco or voc."),
    data: Path = DATA,
    db: str | None = DB,
    blobs: str | None = BLOBS,
) -> None:
    """Write a version as dataset folders that edgeloop train / dataset check read."""
    from edgeloop.hub import datasets
    from edgeloop.hub.blobs import open_blobs
    from edgeloop.hub.config import HubConfig
    from edgeloop.hub.dataset_export import check_format

    check_format(format)
    name, number = datasets.parse_ref(ref)
    store = open_blobs(HubConfig(data_dir=data.resolve(), db_url=db, blobs_url=blobs).blobs)
    start = time.monotonic()
    try:
        with _engine(data, db) as engine:
            result = datasets.export(engine, store, name, number, out, format)
    finally:
        store.close()
    c = result.counts
    err.print(
        f"exported {result.name}@{result.version} as {format}: train {c['train']}, val {c['val']}, "
        f"test {c['test']} images, {result.boxes} boxes in {time.monotonic() - start:.1f}s"
    )
    stdout_line(str(out))
