"""Import models from other frameworks: one module per source format, each writing a verified bundle.

``convert_model(path, out, options)`` finds the format (``detect_format``), lets its
module convert the model (``SourceFormat.convert`` -> ``Converted``), and hands the
result to ``write.write_bundle``, which writes the bundle, runs it beside the source
framework on golden samples and records the difference. Adding a format is one
module that builds ``FORMAT`` plus one line in ``FORMATS``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgeloop.bundle import Bundle
from edgeloop.convert.base import Converted, ConvertOptions, SourceFormat
from edgeloop.errors import ModelImportError
from edgeloop.registry import Registry

# name -> module building FORMAT. Order matters: the first whose suffixes or sniff claim a path wins.
FORMATS = Registry(
    "source format",
    {
        "onnx": "edgeloop.convert.onnx:FORMAT",
        "pytorch": "edgeloop.convert.pytorch:FORMAT",
        "tensorflow": "edgeloop.convert.tensorflow:FORMAT",
        "tflite": "edgeloop.convert.tflite:FORMAT",
        "caffe": "edgeloop.convert.caffe:FORMAT",
        "darknet": "edgeloop.convert.darknet:FORMAT",
    },
    ModelImportError,
)


def get_format(name: str) -> SourceFormat:
    """The source format registered as ``name`` (ModelImportError naming the choices if unknown)."""
    fmt: SourceFormat = FORMATS.get(name)
    return fmt


def detect_format(path: Path) -> str:
    """The registered format that claims ``path`` (by suffix, or by looking inside a folder).

    Raises:
        ModelImportError: no format claims it; the message lists what edgeloop imports.
    """
    for name in FORMATS.names():
        if get_format(name).claims(path):
            return name
    kinds = "; ".join(f"{get_format(n).title} ({get_format(n).describe_inputs()})" for n in FORMATS.names())
    raise ModelImportError(f"{path}: not a model format edgeloop imports: {kinds}; or pass --from FORMAT")


def convert_model(path: str | Path, out: str | Path, options: ConvertOptions | None = None) -> Bundle:
    """Create a verified bundle folder at ``out`` from a model of any registered format.

    Raises:
        ModelImportError: the model cannot be read, converted, or does not match its source.
        BundleError: ``out`` is not empty (and ``options.force`` is not set).
    """
    from edgeloop.convert.write import check_out_dir, write_bundle

    options = options or ConvertOptions()
    path, out = Path(path), Path(out)
    if not path.exists():
        raise ModelImportError(f"{path}: no such file or folder")
    check_out_dir(out, options.force)
    fmt = get_format(options.source_format or detect_format(path))
    with tempfile.TemporaryDirectory(prefix="edgeloop-convert-") as work:
        converted = fmt.convert(path, out, options, Path(work))
        if isinstance(converted, Bundle):  # the format wrote the bundle itself (ONNX)
            return converted
        return write_bundle(converted, out, options, Path(work))


__all__ = ["FORMATS", "ConvertOptions", "Converted", "SourceFormat", "convert_model", "detect_format"]
