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
    out: Path = typer.Argument(..., help="New folder to write."),
    images: int = typer.Option(100, "--images", min=1, help="Number of images."),
    size: int = typer.Option(320, "--size", min=32, max=4096, help="Image width and height in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same dataset."),
    classes: str = typer.Option(
        "square,circle,triangle",
        "--classes",
        help="Comma-separated shapes: square, circle, triangle, pentagon, hexagon, star.",
    ),
    task: str = typer.Option("detect", "--task", help="detect (YOLO format) or classify (class folders)."),
) -> None:
    """Make a synthetic dataset of coloured shapes on textured backgrounds."""
    from edgeloop.data.synth import synth_classification, synth_detection
    from edgeloop.errors import DatasetError

    names = [c.strip() for c in classes.split(",") if c.strip()]
    if task == "detect":
        ds = synth_detection(out, images=images, size=size, seed=seed, classes=names)
        boxes = sum(len(i.detections) for i in ds.items if i.detections is not None)
        err.print(f"wrote {len(ds)} images, {boxes} boxes, classes {', '.join(ds.names)} (yolo)")
    elif task == "classify":
        ds = synth_classification(out, images=images, size=size, seed=seed, classes=names)
        err.print(f"wrote {len(ds)} images, classes {', '.join(ds.names)} (class folders)")
    else:
        raise DatasetError(f"--task {task}: choose detect or classify")
    stdout_line(str(out))
