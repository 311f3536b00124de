"""ONNX files: the importer that reads Ultralytics-style metadata (``edgeloop.importer``)."""

from __future__ import annotations

from pathlib import Path

from edgeloop.bundle import Bundle
from edgeloop.convert.base import ConvertOptions, SourceFormat


def quiet_onnxruntime() -> None:
    """Keep ONNX Runtime's own log lines off stderr for the rest of this process.

    A crafted initializer (2^31 x 2^31 floats) makes ONNX Runtime log an "Integer overflow"
    line at ERROR level before it raises; the raised error already says what is wrong, and
    ``edgeloop import`` promises one error line. Process-wide (ONNX Runtime has no way to read
    the level back), so the ``edgeloop import`` command calls it, not the Python API.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # FATAL only


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Bundle:
    """ONNX needs no conversion: the importer writes the bundle straight away."""
    from edgeloop.importer import import_onnx

    return import_onnx(path, out, options)


FORMAT = SourceFormat(name="onnx", title="ONNX", suffixes=(".onnx",), convert=convert)
