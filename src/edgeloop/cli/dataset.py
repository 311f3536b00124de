"""``edgeloop dataset``: convert between dataset formats and make synthetic data."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

app = typer.Typer(help="Convert datasets between formats and make synthetic ones.", no_args_is_help=True)


@app.command("convert")
@handle_errors
def convert(
    src: Path = typer.Argument(..., help="Dataset folder to read."),
    dst: Path = typer.Argument(..., help="New folder to write."),
    to: str = typer.Option(..., "--to", help="Format to write: coco, yolo, voc, folders."),
    from_: str | None = typer.Option(None, "--from", help="Format of SRC (default: detected)."),
) -> None:
    """Convert a dataset to another format; SRC is never modified."""
    from edgeloop.data.formats import FORMATS, detect_format, load_dataset, save_dataset

    FORMATS.get(to)  # an unknown format fails before anything is read
    source_format = from_ or detect_format(src)
    ds = load_dataset(src, source_format)
    save_dataset(ds, dst, to)
    boxes = sum(len(i.detections) for i in ds.items if i.detections is not None)
    err.print(
        f"converted {len(ds)} images, {boxes} boxes, {len(ds.names)} classes from {source_format} to {to}"
    )
    stdout_line(str(dst))


@app.command("synth")
@handle_errors
def synth(
    out: Path = typer.Argument(..., help="New folder to write (YOLO format)."),
    images: int = typer.Option(100, "--images", min=1, help="Number of images."),
    size: int = typer.Option(320, "--size", min=32, max=4096, help="Image width and height in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same dataset."),
) -> None:
    """Make a synthetic detection dataset of coloured shapes on textured backgrounds."""
    from edgeloop.data.synth import synth_detection

    ds = synth_detection(out, images=images, size=size, seed=seed)
    boxes = sum(len(i.detections) for i in ds.items if i.detections is not None)
    err.print(f"wrote {len(ds)} images, {boxes} boxes, classes {', '.join(ds.names)} (yolo)")
    stdout_line(str(out))
