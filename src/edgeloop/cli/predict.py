"""``edgeloop predict``: run a bundle on images, folders or globs."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.classes import parse_classes
from edgeloop.cli.backend_options import backend_option, backend_settings, device_option, threads_option
from edgeloop.cli.common import err, error_line, handle_errors, stdout_line
from edgeloop.errors import EdgeloopError
from edgeloop.progress import progress_bar

if TYPE_CHECKING:
    from edgeloop.postprocess import DecodeOptions
    from edgeloop.predictor import Predictor

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def expand_sources(sources: list[str]) -> list[Path]:
    """Image files named directly, found in folders (sorted), or matched by globs.

    Raises:
        EdgeloopError: a source that is none of these, or no images at all.
    """
    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.exists():
            found.append(path)
        elif glob.has_magic(source):
            found += sorted(
                Path(p)
                for p in glob.glob(source, recursive=True)
                if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file()
            )
        else:
            raise EdgeloopError(f"{source}: no such file, folder or glob match")
    if not found:
        raise EdgeloopError(
            f"no images found in {', '.join(sources)} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return found


def _out_path(out: Path, source: Path, used: set[Path]) -> Path:
    candidate = out / source.name
    n = 1
    while candidate in used:
        candidate = out / f"{source.stem}_{n}{source.suffix}"
        n += 1
    used.add(candidate)
    return candidate


@handle_errors
def predict(
    bundle: Path = typer.Argument(..., help="Bundle folder or .tar."),
    sources: list[str] = typer.Argument(..., help="Image files, folders or quoted globs."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write annotated images here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per image (JSONL) on stdout."),
    conf: float | None = typer.Option(
        None, min=0, max=1, help="Confidence threshold (default: the bundle's)."
    ),
    iou: float | None = typer.Option(None, min=0, max=1, help="NMS IoU threshold (default: the bundle's)."),
    max_det: int | None = typer.Option(None, "--max-det", min=1, help="Most detections per image."),
    classes: str | None = typer.Option(
        None, help="Keep only these classes: names or ids, comma-separated, e.g. person,car or 0,2."
    ),
    agnostic: bool = typer.Option(False, "--agnostic", help="NMS across classes."),
    backend: str = backend_option(),
    device: str | None = device_option(),
    threads: int = threads_option(),
    precision: str | None = typer.Option(None, help="Bundle variant to run: fp32, fp16, int8."),
    fast_decode: bool = typer.Option(
        False, "--fast-decode", help="Decode large JPEGs at reduced size (faster, slightly different pixels)."
    ),
    max_pixels: int = typer.Option(
        40_000_000, "--max-pixels", min=1, help="Refuse images declaring more pixels than this."
    ),
) -> None:
    """Detect (or classify) objects in images with a bundle."""
    from edgeloop.postprocess.families import require_decoder
    from edgeloop.predictor import Predictor

    config = backend_settings(backend, device, threads)
    paths = expand_sources(sources)
    failures = 0
    with Predictor(
        bundle,
        config,
        precision=precision,
        max_pixels=max_pixels,
        fast_decode=fast_decode,
    ) as predictor:
        class_ids = list(parse_classes(classes, predictor.names)) if classes is not None else None
        options = predictor.options(
            conf=conf, iou=iou, max_det=max_det, classes=class_ids, agnostic=agnostic or None
        )
        require_decoder(predictor.bundle.manifest.family, predictor.bundle.manifest.name)  # raw: say it once
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        used: set[Path] = set()
        with progress_bar(len(paths), "predict", minimum=2) as advance:
            for path in paths:
                try:
                    _one(predictor, path, options, as_json, out, used)
                except EdgeloopError as exc:
                    failures += 1
                    error_line(str(exc).replace("[", "\\["))
                advance()
    if len(paths) > 1:
        err.print(
            f"{len(paths) - failures} of {len(paths)} images done"
            + (f", {failures} failed" if failures else "")
        )
    if failures:
        raise typer.Exit(1)


def _one(
    predictor: Predictor,
    path: Path,
    options: DecodeOptions,
    as_json: bool,
    out: Path | None,
    used: set[Path],
) -> None:
    from edgeloop.imaging import draw_detections, oriented_size, read_header, read_image_bytes, write_image
    from edgeloop.types import Detections

    data = read_image_bytes(path)
    result, timing = predictor.predict_timed(data, options)
    width, height = oriented_size(read_header(data))
    if as_json:
        record = result.to_json((width, height), timing.total_s)
        stdout_line(json.dumps({"source": str(path), **record}))
    elif isinstance(result, Detections):
        err.print(f"{path}: {len(result)} detection{'' if len(result) == 1 else 's'}")
    else:
        err.print(f"{path}: {result.class_name(result.class_id)} {result.confidence:.2f}")
    if out is not None:
        image = predictor.load_image(data)
        annotated = draw_detections(image, result) if isinstance(result, Detections) else image
        write_image(_out_path(out, path, used), annotated)
