"""``edgeloop dataset``: convert, check, describe, preview, split, merge, import; make synthetic sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.data.check import CheckReport

app = typer.Typer(
    help="Convert, check, describe, preview, split, merge and import datasets; make synthetic ones.",
    no_args_is_help=True,
)


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


@app.command("check")
@handle_errors
def check(
    src: Path = typer.Argument(..., help="Dataset folder to check (never modified)."),
    fix: Path | None = typer.Option(None, "--fix", help="Write a cleaned copy to this new folder."),
    from_: str | None = typer.Option(None, "--from", help="Format of SRC (default: detected)."),
    max_imbalance: float = typer.Option(
        10.0, "--max-imbalance", min=1.0, help="Warn when the most common class outnumbers another by more."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Report every defect of a dataset; exit code 0 when clean, 1 when defects were found."""
    import json

    from edgeloop.data.check import check_dataset, fix_dataset

    if fix is None:
        report = check_dataset(src, from_, max_imbalance)
    else:
        report, changes = fix_dataset(src, fix, from_, max_imbalance)
        after = check_dataset(fix, report.format, max_imbalance)
        err.print(
            f"wrote cleaned copy {fix}: dropped {changes['images_dropped']} images, "
            f"{changes['labels_dropped']} broken labels and {changes['boxes_dropped']} boxes, "
            f"clipped {changes['boxes_clipped']} boxes; "
            f"it checks {'clean' if after.clean else f'with {after.errors} errors'}"
        )
    if json_out:
        stdout_line(json.dumps(report.as_dict()))
    else:
        for line in render_report(report):
            stdout_line(line)
    if not report.clean:
        raise typer.Exit(1)


def render_report(report: CheckReport) -> list[str]:
    """The check report as text lines."""
    lines = [
        f"{report.path} ({report.format}, {report.task}): {report.images} images, {report.boxes} boxes, "
        f"{len(report.class_counts)} classes"
    ]
    for f in report.findings:
        lines.append(f"{f.severity:<7} {f.kind:<16} {f.count:>6}  {f.hint}")
        lines += [f"{'':32}{where}" for where in f.examples]
        if f.count > len(f.examples):
            lines.append(f"{'':32}... and {f.count - len(f.examples)} more")
    warnings = sum(1 for f in report.findings if f.severity == "warning")
    if report.clean:
        lines.append(f"clean ({warnings} warnings)" if warnings else "clean")
    else:
        lines.append(
            f"{report.errors} errors: write a cleaned copy with --fix OUT (the source stays as it is)"
        )
    return lines


ARCHIVES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz")


@app.command("import")
@handle_errors
def import_(
    src: Path = typer.Argument(
        ...,
        help="An archive (.zip, .tar, .tar.gz, .tgz, .tar.xz), a Label Studio JSON export, "
        "a CVAT for images 1.1 XML, or a dataset folder.",
    ),
    out: Path = typer.Argument(..., help="New folder to write the dataset into."),
    from_: str | None = typer.Option(
        None, "--from", help="Format of SRC: labelstudio, cvat, coco, yolo, voc (default: detected)."
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Folder holding the labelled images (default: beside SRC and its images/)."
    ),
    names: str | None = typer.Option(
        None, "--names", help="Class names in order: 'a,b,c' or a file (default: the tool's label list)."
    ),
    predictions: bool = typer.Option(
        False, "--predictions", help="Label Studio: use a task's predictions when nobody annotated it."
    ),
    to: str = typer.Option("yolo", "--to", help="Format to write: yolo, coco, voc (not for archives)."),
    max_ratio: float = typer.Option(
        100.0,
        "--max-ratio",
        min=1.0,
        help="Refuse archives expanding to more than this many times their size.",
    ),
) -> None:
    """Import a dataset archive, or labelled results from Label Studio or CVAT, as a dataset to train on."""
    if _is_archive(src):
        _import_archive(src, out, max_ratio)
        return
    from edgeloop.data.labelled import import_labels, summarise
    from edgeloop.importer import parse_names

    result = import_labels(
        src, out, from_, images, tuple(parse_names(names)) if names else None, predictions, to
    )
    err.print(
        f"imported {result.images} images, {result.boxes} boxes, classes {', '.join(result.names)} "
        f"({result.source_format} -> {result.format})"
    )
    if result.unlabelled:
        err.print(f"{result.unlabelled} tasks not labelled yet were left out")
    if result.defects:
        err.print(f"{len(result.defects)} entries skipped ({summarise(result.defects)}):")
        for defect in result.defects[:5]:
            err.print(f"  {defect.message}")
    stdout_line(str(out))


def _is_archive(src: Path) -> bool:
    """An archive by its name or its content (a JSON or XML file is neither zip nor tar)."""
    import tarfile
    import zipfile

    if not src.is_file():
        return False
    return src.name.lower().endswith(ARCHIVES) or zipfile.is_zipfile(src) or tarfile.is_tarfile(src)


def _import_archive(archive: Path, out: Path, max_ratio: float) -> None:
    from edgeloop.archive import ArchiveLimits
    from edgeloop.data.unpack import import_archive

    result = import_archive(archive, out, ArchiveLimits(max_ratio=max_ratio))
    err.print(
        f"imported {result.images} images, {result.boxes} boxes, {result.classes} classes "
        f"({result.format}, {result.task})"
    )
    if result.defects:
        err.print(f"{result.defects} defects found: see `edgeloop dataset check {out}`")
    stdout_line(str(out))


@app.command("split")
@handle_errors
def split(
    src: Path = typer.Argument(..., help="Dataset folder to split (never modified)."),
    out: Path = typer.Argument(..., help="New folder: OUT/train, OUT/val (and OUT/test) are written there."),
    val: float = typer.Option(0.2, "--val", min=0.0, max=1.0, help="Fraction of images for validation."),
    test: float = typer.Option(0.0, "--test", min=0.0, max=1.0, help="Fraction of images for test."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same split."),
    to: str | None = typer.Option(None, "--to", help="Format to write (default: the source's)."),
    from_: str | None = typer.Option(None, "--from", help="Format of SRC (default: detected)."),
) -> None:
    """Split a dataset into train/val(/test), stratified by class, deterministic per seed."""
    from edgeloop.data.formats import FORMATS
    from edgeloop.data.split import split_folder

    if to is not None:
        FORMATS.get(to)
    parts = split_folder(src, out, val, test, seed, to, from_)
    for name, part in parts.items():
        boxes = sum(len(i.detections) for i in part.items if i.detections is not None)
        err.print(f"{name:<6} {len(part):>6} images {boxes:>7} boxes")
    stdout_line(str(out))


@app.command("merge")
@handle_errors
def merge(
    sources: list[Path] = typer.Argument(..., help="Dataset folders to merge (never modified)."),
    out: Path = typer.Option(..., "--out", help="New folder to write the merged dataset to."),
    renames: list[str] = typer.Option(
        [], "--map", help="Rename a class before merging: old=new (repeatable)."
    ),
    to: str | None = typer.Option(None, "--to", help="Format to write (default: the first source's)."),
) -> None:
    """Merge datasets: classes are matched by name (after --map renames); clashing image names get __N."""
    from edgeloop.data.formats import FORMATS
    from edgeloop.data.split import merge_folders, parse_renames

    if to is not None:
        FORMATS.get(to)
    merged, renamed = merge_folders(sources, out, parse_renames(renames), to)
    boxes = sum(len(i.detections) for i in merged.items if i.detections is not None)
    classes = ", ".join(merged.names)
    note = f"; renamed {renamed} clashing image names" if renamed else ""
    err.print(f"merged {len(sources)} datasets: {len(merged)} images, {boxes} boxes, classes {classes}{note}")
    stdout_line(str(out))


@app.command("stats")
@handle_errors
def stats(
    src: Path = typer.Argument(..., help="Dataset folder to describe."),
    plot: Path | None = typer.Option(None, "--plot", help="Also write a PNG chart here."),
    from_: str | None = typer.Option(None, "--from", help="Format of SRC (default: detected)."),
    json_out: bool = typer.Option(False, "--json", help="Print the numbers as one JSON object."),
) -> None:
    """Instances and images per class, box sizes and image sizes."""
    import json

    from edgeloop.data.stats import dataset_stats, plot_stats, render_stats

    result = dataset_stats(src, from_)
    if plot is not None:
        plot_stats(result, plot)
        err.print(f"wrote {plot}")
    if json_out:
        stdout_line(json.dumps(result.as_dict()))
    else:
        for line in render_stats(result):
            stdout_line(line)


@app.command("preview")
@handle_errors
def preview(
    src: Path = typer.Argument(..., help="Dataset folder to look at (never modified)."),
    out: Path = typer.Option(..., "--out", help="PNG file to write the grid to."),
    count: int = typer.Option(16, "--n", min=1, max=400, help="Number of images to draw."),
    split: str | None = typer.Option(None, "--split", help="Split to sample: train, val, test or all [all]."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed draws the same images."),
    from_: str | None = typer.Option(None, "--from", help="Format of SRC (default: detected)."),
) -> None:
    """Draw the labels of a sample of images into one grid PNG, to see what the model will learn."""
    from edgeloop.data.preview import preview_grid, write_png
    from edgeloop.data.splits import load_split

    chosen = load_split(src, split or "all", from_)
    image, placed = preview_grid(chosen.dataset, count, seed)
    write_png(image, out)
    boxes = sum(len(p.item.detections) for p in placed if p.item.detections is not None)
    what = f"{boxes} boxes" if chosen.dataset.task == "detect" else "class in each caption"
    err.print(
        f"wrote {out}: {len(placed)} of {len(chosen.dataset)} images (split {chosen.split}), {what}; "
        f"{image.shape[1]}x{image.shape[0]} px"
    )
    stdout_line(str(out))
