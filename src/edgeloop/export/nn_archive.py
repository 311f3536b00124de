"""Luxonis NN Archives: a bundle's model and its description, packed for DepthAI (OAK cameras).

An NN Archive is a ``.tar.xz`` holding ``config.json`` and one model file. ``config.json``
follows the NN Archive config format version 1.0 (the ``depthai.nn_archive.v1`` classes):
``config_version`` and ``model`` with ``metadata`` (name, path, precision), ``inputs`` (name,
dtype, input_type, shape, layout, preprocessing), ``outputs`` (name, dtype, shape, layout) and
``heads`` (parser + metadata such as classes, thresholds and anchors).

The model file decides the platform:

- ``.blob``: RVC2 (OAK-D, OAK-1: Myriad X), from ``edgeloop optimize --target myriad``;
- ``.dlc``: RVC4 (OAK4), compiled by Luxonis' SNPE tooling, which edgeloop cannot run: bring it;
- ``.onnx``: not runnable on a camera; the input to Luxonis' own converter.

Compiled models (``.blob``, ``.dlc``) take raw 0-255 pixels and normalize inside the network:
``preprocessing.mean`` and ``preprocessing.scale`` record that normalization (the network
computes ``(pixel - mean) / scale`` per channel), which the DepthAI backend also uses to turn
edgeloop's prepared float tensor back into pixels.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from edgeloop.backends.depthai_io import read_archive_config
from edgeloop.bundle import Bundle
from edgeloop.errors import BundleError
from edgeloop.preprocess import InputSpec

CONFIG_VERSION = "1.0"
SUFFIXES = {".blob": "RVC2", ".dlc": "RVC4", ".onnx": "ONNX"}
"""Model file suffix -> the platform the archive is for."""

# family -> (parser, YOLO subtype). edgeloop decodes on the host with the bundle's own decoder;
# the head tells other DepthAI tools (DetectionParser, depthai-nodes) what the outputs are.
_PARSERS: dict[str, tuple[str, str | None]] = {
    "yolo": ("YOLO", "yolov8"),
    "yolov5": ("YOLO", "yolov5"),
    "yolo-e2e": ("YOLO", "yolov10"),
    "yolo-anchors": ("YOLO", "yolov4"),
    "ssd": ("SSD", None),
    "classify": ("ClassificationParser", None),
}


def pixel_normalization(spec: InputSpec) -> tuple[list[float], list[float]]:
    """Per-channel ``mean`` and ``scale`` with ``(pixel - mean) / scale`` equal to the bundle's
    preprocessing ``(pixel * spec.scale - spec.mean) / spec.std``, in the input's colour order.

    These are OpenVINO Model Optimizer's ``--mean_values`` / ``--scale_values`` and the NN
    Archive's ``preprocessing.mean`` / ``preprocessing.scale``. A uint8 input takes pixels as
    they are (mean 0, scale 1).
    """
    if spec.dtype == "uint8":
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    mean = spec.mean or (0.0, 0.0, 0.0)
    std = spec.std or (1.0, 1.0, 1.0)
    return [m / spec.scale for m in mean], [s / spec.scale for s in std]


def dai_frame_type(spec: InputSpec) -> str:
    """The DepthAI ``ImgFrame`` type a camera sends this input: planar for NCHW, interleaved for NHWC."""
    return f"{spec.color}888{'p' if spec.layout == 'NCHW' else 'i'}"


def _input_shape(spec: InputSpec) -> list[int]:
    h, w = spec.size_hw
    return [1, 3, h, w] if spec.layout == "NCHW" else [1, h, w, 3]


def _onnx_outputs(bundle: Bundle) -> list[tuple[str, list[int]]]:
    """Names and static shapes of the bundle's FP32 ONNX model outputs (batch 1)."""
    import onnx

    graph = onnx.load(str(bundle.model_path("fp32")), load_external_data=False).graph
    outputs = []
    for out in graph.output:
        dims = out.type.tensor_type.shape.dim
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in dims]
        outputs.append((out.name, shape))
    return outputs


def _layout(rank: int) -> str:
    return {2: "NC", 3: "NCD", 4: "NCHW"}.get(rank, "N" + "D" * (rank - 1))


def _parser(family: str, head: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """The NN Archive parser for an output family: by name, else a Darknet head (anchors per
    [yolo] layer) means a Darknet-style YOLO head and an ``ssd`` name an SSD head; None when no
    DepthAI parser fits."""
    if family in _PARSERS:
        return _PARSERS[family]
    if _anchors(head) is not None:
        return _PARSERS["yolo-anchors"]
    if "ssd" in family:
        return _PARSERS["ssd"]
    return None


def _head(bundle: Bundle, outputs: list[str]) -> list[dict[str, Any]]:
    manifest = bundle.manifest
    parser_subtype = _parser(manifest.family, manifest.head)
    if parser_subtype is None or manifest.task not in ("detect", "classify"):
        return []
    parser, subtype = parser_subtype
    metadata: dict[str, Any] = {"classes": list(manifest.names), "n_classes": len(manifest.names)}
    if manifest.task == "detect":
        metadata.update(iou_threshold=manifest.iou, conf_threshold=manifest.conf, max_det=manifest.max_det)
        metadata["anchors"] = _anchors(manifest.head)
        if parser == "YOLO":
            metadata.update(yolo_outputs=outputs, subtype=subtype)
        if parser == "SSD":
            metadata.update(boxes_outputs=outputs[0], scores_outputs=outputs[-1])
    else:
        metadata["is_softmax"] = False
    return [{"parser": parser, "outputs": outputs, "metadata": metadata}]


def _anchors(head: dict[str, Any] | None) -> list[list[list[float]]] | None:
    """The NN Archive's anchors (per output: [w, h] pairs) from a Darknet import's head:
    ``{"layers": [{"anchors": [[w, h], ...], ...}, ...]}``, each layer's anchors already masked
    and in output order (``edgeloop.convert.darknet.head_for``)."""
    layers = (head or {}).get("layers")
    if not isinstance(layers, list) or not layers or not all("anchors" in layer for layer in layers):
        return None
    return [[[float(v) for v in pair] for pair in layer["anchors"]] for layer in layers]


def archive_config(bundle: Bundle, model_name: str) -> dict[str, Any]:
    """``config.json`` for ``bundle``'s model stored in the archive as ``model_name``.

    Raises:
        BundleError: the model file's suffix is not one an archive holds.
    """
    suffix = Path(model_name).suffix
    if suffix not in SUFFIXES:
        raise BundleError(
            f"an NN Archive holds a .blob (RVC2), .dlc (RVC4) or .onnx model, not {model_name!r}"
        )
    compiled = suffix != ".onnx"
    spec = bundle.manifest.input
    mean, scale = pixel_normalization(spec)
    preprocessing = {
        "mean": mean,
        "scale": scale,
        "reverse_channels": spec.color == "RGB",
        "interleaved_to_planar": spec.layout == "NHWC",
        "dai_type": dai_frame_type(spec),
    }
    outputs = _onnx_outputs(bundle)
    out_dtype = "float16" if compiled else "float32"
    return {
        "config_version": CONFIG_VERSION,
        "model": {
            "metadata": {
                "name": bundle.manifest.name,
                "path": model_name,
                "precision": "float16" if compiled else "float32",
            },
            "inputs": [
                {
                    "name": spec.name,
                    "dtype": "uint8" if compiled else "float32",
                    "input_type": "image",
                    "shape": _input_shape(spec),
                    "layout": spec.layout,
                    "preprocessing": preprocessing,
                }
            ],
            "outputs": [
                {"name": name, "dtype": out_dtype, "shape": shape, "layout": _layout(len(shape))}
                for name, shape in outputs
            ],
            "heads": _head(bundle, [name for name, _ in outputs]),
        },
    }


def pack_nn_archive(bundle: Bundle, model_file: Path, out: Path) -> Path:
    """Write ``out`` (``.tar.xz``): ``config.json`` for ``bundle`` plus ``model_file``.

    Raises:
        BundleError: ``model_file`` is missing or not a .blob/.dlc/.onnx file.
    """
    model_file = Path(model_file)
    if not model_file.is_file():
        raise BundleError(f"model file {model_file} not found")
    name = f"model{model_file.suffix}"
    config = json.dumps(archive_config(bundle, name), indent=2).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:xz") as tar:
        info = tarfile.TarInfo("config.json")
        info.size = len(config)
        tar.addfile(info, io.BytesIO(config))
        tar.add(model_file.resolve(), arcname=name)  # the file's bytes, never a symlink member
    return out


RVC4_ARCHIVE_FILE = "rvc4/model.rvc4.tar.xz"


def rvc4_files(bundle: Bundle, out: Path, dlc: Path) -> dict[str, tuple[str, ...]]:
    """Pack a user's RVC4 ``dlc`` (compiled by Luxonis' tools from this bundle's ONNX, taking
    0-255 pixels) into the bundle folder ``out``. Returns ``{variant file: extra files}``.

    Raises:
        BundleError: ``dlc`` is missing or not a ``.dlc`` file.
    """
    dlc = Path(dlc)
    if dlc.suffix != ".dlc":
        raise BundleError(f"--dlc takes an RVC4 model file ending in .dlc, not {dlc.name!r}")
    pack_nn_archive(bundle, dlc, out / RVC4_ARCHIVE_FILE)
    return {RVC4_ARCHIVE_FILE: ()}


__all__ = [
    "archive_config",
    "dai_frame_type",
    "pack_nn_archive",
    "pixel_normalization",
    "read_archive_config",
    "rvc4_files",
]
