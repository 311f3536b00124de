"""ONNX files: the importer that reads Ultralytics-style metadata (``edgeloop.importer``)."""

from __future__ import annotations

from pathlib import Path

from edgeloop.bundle import Bundle
from edgeloop.convert.base import ConvertOptions, SourceFormat


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Bundle:
    """ONNX needs no conversion: the importer writes the bundle straight away."""
    from edgeloop.importer import import_onnx

    return import_onnx(path, out, options)


FORMAT = SourceFormat(name="onnx", title="ONNX", suffixes=(".onnx",), convert=convert)
