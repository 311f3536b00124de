"""Darknet ``.cfg`` + ``.weights`` -> ONNX, with edgeloop's own converter.

``cfg.py`` reads the text, ``layers.py`` works out and checks every layer's shape,
``weights.py`` reads the exact float count the cfg implies, ``graph.py`` writes the ONNX
model (outputs: the raw maps feeding each [yolo] layer), ``reference.py`` runs OpenCV's
own Darknet reader for the import check. The ``yolo-anchors`` output family decodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeloop.convert.base import Converted, ConvertOptions, SourceFormat
from edgeloop.convert.darknet.layers import Network
from edgeloop.errors import ModelImportError
from edgeloop.preprocess import InputSpec

FAMILY = "yolo-anchors"
TOLERANCE = 1e-3


def head_for(network: Network) -> dict[str, Any]:
    """The decoder parameters of each [yolo] layer, in output order."""
    layers = []
    for yolo in network.yolo_layers():
        _, h, w = yolo.out
        layers.append(
            {
                "anchors": [list(a) for a in yolo.anchors],
                "mask": list(yolo.mask),
                "scale_x_y": yolo.scale_x_y,
                "new_coords": yolo.new_coords,
                "stride": [network.width / w, network.height / h],
                "grid_hw": [h, w],
            }
        )
    return {"format": "darknet", "classes": network.yolo_layers()[0].classes, "layers": layers}


def _names(options: ConvertOptions, classes: int) -> tuple[list[str], list[str]]:
    if options.names is None:
        note = f"no --names given: the {classes} classes are named class0..class{classes - 1}"
        return [f"class{i}" for i in range(classes)], [note]
    if len(options.names) != classes:
        raise ModelImportError(
            f"{len(options.names)} class names given but the cfg's [yolo] layers have classes={classes}: "
            "pass --names with exactly that many (a file with one name per line, e.g. coco.names)"
        )
    return list(options.names), []


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Converted:
    """Convert a Darknet model (the .cfg at ``path``, ``options.weights``) into ``work``.

    Raises:
        ModelImportError: no --weights, an unsupported or hostile cfg, weights that do not fit.
    """
    from edgeloop.convert.darknet.cfg import read_cfg
    from edgeloop.convert.darknet.graph import build_onnx
    from edgeloop.convert.darknet.layers import build_network
    from edgeloop.convert.darknet.reference import opencv_reference
    from edgeloop.convert.darknet.weights import read_weights

    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ModelImportError(
            "converting Darknet models needs the onnx package: pip install 'edgeloop[darknet]'"
        ) from None
    weights = options.weights
    if weights is None:
        raise ModelImportError(f"{path}: a Darknet .cfg needs its weights: pass --weights FILE.weights")
    if not weights.is_file():
        raise ModelImportError(f"{weights}: no such weights file")
    if options.imgsz_hw is not None:
        raise ModelImportError(
            "--imgsz does not apply to Darknet models: edit width= and height= in the cfg's [net]"
        )
    if options.family not in (None, FAMILY):
        raise ModelImportError(f"--family {options.family}: Darknet YOLO models decode with {FAMILY}")
    sections = read_cfg(path)
    try:
        network = build_network(sections)
    except ModelImportError as exc:
        raise ModelImportError(f"{path.name}: {exc}") from None
    classes = network.yolo_layers()[0].classes
    names, notes = _names(options, classes)
    conv = read_weights(weights, network)
    model = build_onnx(network, conv, work / "model.onnx", "edgeloop darknet")
    reference, reference_name, note = (
        opencv_reference(path, weights, network) if options.check else (None, None, "")
    )
    input_spec = InputSpec(
        name="images",
        size_hw=(network.height, network.width),
        color="BGR" if options.color == "BGR" else "RGB",
        resize="letterbox" if options.resize == "letterbox" else "stretch",
        scale=1 / 255,
    )
    return Converted(
        model_file=model,
        bundle_file="model.onnx",
        backend="onnxruntime",
        family=FAMILY,
        task="detect",
        names=names,
        input=input_spec,
        framework="darknet",
        source_files=[path, weights],
        reference=reference,
        reference_name=reference_name,
        tolerance=TOLERANCE,
        head=head_for(network),
        notes=[*notes, *([note] if note else [])],
    )


FORMAT = SourceFormat(
    name="darknet",
    title="Darknet .cfg + .weights",
    suffixes=(".cfg",),
    convert=convert,
    needs="darknet",
)
