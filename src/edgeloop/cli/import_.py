"""``edgeloop import``: ONNX file -> bundle folder."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import err, handle_errors


@handle_errors
def import_model(
    model: Path = typer.Argument(..., help="ONNX model file (e.g. exported by Ultralytics)."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to create."),
    names: str | None = typer.Option(None, help="Class names: 'a,b,c' or a file with one per line."),
    family: str | None = typer.Option(
        None,
        help="Output family: yolo, yolo-e2e, yolov5, classify (default: recognised from the model), "
        "or raw (any model, outputs as tensors over /v2; no decoder).",
    ),
    imgsz: str | None = typer.Option(None, help="Input size: 640 or HEIGHT,WIDTH."),
    name: str | None = typer.Option(None, help="Bundle name (default: the file name)."),
    resize: str | None = typer.Option(None, help="letterbox (detectors) or stretch (classifiers)."),
    bgr: bool = typer.Option(False, "--bgr", help="The model wants BGR input (default RGB)."),
    conf: float = typer.Option(0.25, min=0, max=1, help="Default confidence threshold."),
    iou: float = typer.Option(0.7, min=0, max=1, help="Default NMS IoU threshold."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty --out folder."),
) -> None:
    """Create a bundle from an ONNX model, reading its metadata where present."""
    from edgeloop.errors import ModelImportError
    from edgeloop.importer import ImportOptions, import_onnx, parse_imgsz, parse_names

    if resize not in (None, "letterbox", "stretch"):
        raise ModelImportError(f"--resize '{resize}': choose letterbox or stretch")
    options = ImportOptions(
        names=parse_names(names) if names else None,
        family=family,
        imgsz_hw=parse_imgsz(imgsz) if imgsz else None,
        name=name,
        resize=resize,
        color="BGR" if bgr else None,
        conf=conf,
        iou=iou,
        force=force,
    )
    bundle = import_onnx(model, out, options)
    m = bundle.manifest
    if m.task == "raw":
        err.print(
            f"bundle '{m.name}' written to {out}: family raw (no decoder): serve it and send tensors to "
            f"/v2/models/{m.name}/infer, or run Predictor.infer(tensor) in Python"
        )
        return
    h, w = m.input.size_hw
    err.print(
        f"bundle '{m.name}' written to {out}: task {m.task}, family {m.family}, "
        f"{len(m.names)} classes, input {w}x{h} {m.input.layout} {m.input.color} {m.input.resize}"
    )
