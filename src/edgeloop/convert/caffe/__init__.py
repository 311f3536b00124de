"""Caffe ``deploy.prototxt`` + ``.caffemodel`` -> ONNX, with edgeloop's own converter.

No Caffe package is needed: ``text`` parses the prototxt, ``weights`` reads the binary
``.caffemodel`` (checked against the shapes the prototxt implies), ``build`` emits ONNX
with ``graph``. SSD networks (PriorBox + DetectionOutput) become a model that outputs
the location and softmaxed confidence tensors, decoded by the ``ssd`` output family
from the head parameters stored in ``bundle.json``. The import check runs OpenCV DNN's
own Caffe reader when the installed OpenCV has one (OpenCV 4.x).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeloop.convert.base import Array, Converted, ConvertOptions, SourceFormat
from edgeloop.convert.caffe.build import Built, build
from edgeloop.convert.caffe.net import NetError, read_net
from edgeloop.convert.caffe.weights import CaffeWeights, WeightsError
from edgeloop.errors import ModelImportError
from edgeloop.importer import ImportOptions
from edgeloop.preprocess import InputSpec

MODEL_FILE = "model.onnx"
SCALE = 0.007843
MEAN = 127.5
"""MobileNet-SSD's preprocessing: (pixel - 127.5) * 0.007843, BGR, plain resize."""
TOLERANCE = 1e-3
NO_REFERENCE = (
    "not checked against OpenCV DNN's Caffe reader: it needs OpenCV 4.x "
    "(pip install 'opencv-python-headless<5'; OpenCV 5 dropped readNetFromCaffe)"
)


def _names(options: ConvertOptions, count: int, what: str) -> list[str]:
    if options.names is None:
        return [f"class{i}" for i in range(count)]
    if len(options.names) != count:
        raise ModelImportError(f"--names gives {len(options.names)} names but {what} {count} classes")
    return list(options.names)


def _input(built: Built, options: ConvertOptions) -> InputSpec:
    h, w = built.input_shape[2:]
    scale = options.scale if options.scale is not None else SCALE
    mean = options.mean if options.mean is not None else (MEAN,) * 3
    if scale <= 0:
        raise ModelImportError(f"--scale {scale:g}: give a positive factor")
    if options.imgsz_hw is not None and tuple(options.imgsz_hw) != (h, w):
        raise ModelImportError(f"--imgsz {options.imgsz_hw}: the prototxt fixes the input at {h},{w}")
    return InputSpec(
        name=built.input_name,
        size_hw=(h, w),
        layout="NCHW",
        color=options.color or "BGR",
        resize=options.resize or "stretch",
        scale=scale,
        mean=(mean[0] * scale, mean[1] * scale, mean[2] * scale),  # InputSpec: x*s - m*s == (x - m)*s
    )


def _opencv_failed(what: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split())[-300:]
    return (
        f"OpenCV DNN could not {what} the model to check the conversion ({reason}); "
        "pass --skip-check to import it unchecked"
    )


def _reference(prototxt: Path, weights: Path, built: Built) -> tuple[Any, str] | tuple[None, None]:
    """OpenCV DNN's Caffe reader on the same files, when the installed OpenCV has one."""
    try:
        import cv2
    except ImportError:
        return None, None
    if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromCaffe"):
        return None, None
    import numpy as np

    try:
        net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    except cv2.error as exc:
        raise ModelImportError(_opencv_failed("read", exc)) from None

    def run(tensor: Array) -> list[Array]:
        try:
            net.setInput(np.ascontiguousarray(tensor, np.float32))
            outs = net.forward(built.output_layers)
        except cv2.error as exc:
            raise ModelImportError(_opencv_failed("run", exc)) from None
        return [np.asarray(o, np.float32).reshape(s) for o, s in zip(outs, built.output_shapes, strict=True)]

    return run, f"opencv-dnn {cv2.__version__}"


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Converted:
    """Convert a Caffe prototxt + caffemodel (``--weights``) into an ONNX model for a bundle."""
    if options.weights is None:
        raise ModelImportError(
            f"{path.name}: a Caffe prototxt needs its weights: pass --weights MODEL.caffemodel"
        )
    if not options.weights.is_file():
        raise ModelImportError(f"{options.weights}: no such weights file")
    try:
        net = read_net(path.read_text(encoding="utf-8-sig", errors="strict"))
    except UnicodeDecodeError:
        raise ModelImportError(f"{path.name}: not a text prototxt (binary or not UTF-8)") from None
    except NetError as exc:
        raise ModelImportError(f"{path.name}: {exc}") from None
    try:
        weights = CaffeWeights(options.weights)
    except WeightsError as exc:
        raise ModelImportError(str(exc)) from None
    try:
        built = build(net, weights)
    except NetError as exc:
        raise ModelImportError(f"{path.name}: {exc}") from None
    except WeightsError as exc:
        raise ModelImportError(str(exc)) from None
    finally:
        weights.close()
    model = work / MODEL_FILE
    model.write_bytes(built.onnx)
    reference, reference_name = _reference(path, options.weights, built) if options.check else (None, None)
    notes = [] if reference is not None or not options.check else [NO_REFERENCE]
    common: dict[str, Any] = {
        "model_file": model,
        "bundle_file": MODEL_FILE,
        "backend": "onnxruntime",
        "input": _input(built, options),
        "framework": "caffe",
        "source_files": [path, options.weights],
        "reference": reference,
        "reference_name": reference_name,
        "tolerance": TOLERANCE,
        "notes": notes,
    }
    if built.head is not None:
        head = built.head
        real = head["num_classes"] - (1 if head["background_label_id"] >= 0 else 0)
        # The network's own thresholds, unless --conf / --iou say otherwise.
        conf = options.conf if options.conf != ImportOptions.conf else head["confidence_threshold"]
        iou = options.iou if options.iou != ImportOptions.iou else head["nms_threshold"]
        notes.append(
            f"SSD head: {head['num_classes']} classes, background label {head['background_label_id']}"
        )
        return Converted(
            family="ssd", task="detect", names=_names(options, real, "the DetectionOutput layer has"),
            head=head, conf=conf, iou=iou, **common,
        )  # fmt: skip
    shape = built.output_shapes[0]
    if len(built.outputs) == 1 and len(shape) == 2 and options.family in (None, "classify"):
        return Converted(
            family="classify", task="classify", names=_names(options, shape[1], "the output has"), **common
        )
    return Converted(family="raw", task="raw", names=[], **common)


FORMAT = SourceFormat(
    name="caffe",
    title="Caffe .prototxt + .caffemodel",
    suffixes=(".prototxt",),
    convert=convert,
)
