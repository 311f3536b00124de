"""``edgeloop import``: a model from ONNX, Darknet, Caffe, TensorFlow, TFLite or PyTorch -> bundle folder."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import err, handle_errors


@handle_errors
def import_model(
    model: Path = typer.Argument(
        ...,
        help="The model: .onnx, Darknet .cfg (with --weights), Caffe .prototxt (with --weights), "
        "a TensorFlow SavedModel folder or frozen .pb, .tflite, or a PyTorch TorchScript / .pt2 archive.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to create."),
    weights: Path | None = typer.Option(
        None, help="Weights kept apart from the model file: Darknet .weights, Caffe .caffemodel."
    ),
    source_format: str | None = typer.Option(
        None, "--from", help="The source format by name, when the file name does not tell."
    ),
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
    mean: str | None = typer.Option(
        None, help="Pixel mean subtracted before --scale, Caffe style: 127.5 or B,G,R (Caffe models)."
    ),
    scale: float | None = typer.Option(
        None, min=0, help="Multiplies (pixel - mean), Caffe style (Caffe models; default 0.007843)."
    ),
    samples: Path | None = typer.Option(
        None, help="Folder of images to store as golden samples (default: synthetic images)."
    ),
    skip_check: bool = typer.Option(
        False, "--skip-check", help="Do not compare the bundle with the source framework's own outputs."
    ),
    to_onnx: bool = typer.Option(False, "--to-onnx", help="Convert a .tflite to ONNX instead of keeping it."),
    inputs: str | None = typer.Option(
        None, "--inputs", help="Frozen TensorFlow graph: its input node, when it has several placeholders."
    ),
    outputs: str | None = typer.Option(
        None,
        "--outputs",
        help="Frozen TensorFlow graph: its output nodes 'a,b' (default: the nodes nothing reads).",
    ),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty --out folder."),
) -> None:
    """Create a bundle from a model, convert it where needed, and check it against its source."""
    from edgeloop.convert import ConvertOptions, convert_model
    from edgeloop.convert.base import parse_mean
    from edgeloop.convert.onnx import quiet_onnxruntime
    from edgeloop.errors import ModelImportError
    from edgeloop.importer import parse_imgsz, parse_names

    if resize not in (None, "letterbox", "stretch"):
        raise ModelImportError(f"--resize '{resize}': choose letterbox or stretch")
    options = ConvertOptions(
        names=parse_names(names) if names else None,
        family=family,
        imgsz_hw=parse_imgsz(imgsz) if imgsz else None,
        name=name,
        resize=resize,
        color="BGR" if bgr else None,
        conf=conf,
        iou=iou,
        force=force,
        weights=weights,
        source_format=source_format,
        samples=samples,
        check=not skip_check,
        to_onnx=to_onnx,
        input_names=tuple(n.strip() for n in (inputs or "").split(",") if n.strip()),
        output_names=tuple(n.strip() for n in (outputs or "").split(",") if n.strip()),
        mean=parse_mean(mean) if mean is not None else None,
        scale=scale,
    )
    quiet_onnxruntime()  # one error line: ONNX Runtime logs some refusals of its own before raising
    bundle = convert_model(model, out, options)
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
        f"{len(m.names)} classes, input {w}x{h} {m.input.layout} {m.input.color} {m.input.resize}",
        highlight=False,
    )
    check = (m.provenance.model_extra or {}).get("source_check")
    if isinstance(check, dict) and check.get("checked"):
        err.print(
            f"checked against {check['reference']} on {check['samples']} golden samples: "
            f"largest output difference {check['max_abs_diff']:.2g}",
            highlight=False,
        )
    elif isinstance(check, dict):
        err.print(f"not checked against the source framework: {check.get('why')}", highlight=False)
