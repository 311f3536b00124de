"""`optimize --int8` keeps ONNX Runtime's root-logger warnings off the console, and logging as it was."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgeloop.bundle import Bundle
from edgeloop.export.ort_logs import captured_onnxruntime_logs
from edgeloop.importer import import_onnx
from edgeloop.testing.onnx_models import colour_detector
from tests.conftest import run_cli
from tests.optimize.conftest import CELL, SIZE


@pytest.fixture(scope="module")
def vector_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The colour detector with a MatMul by a 1-D weight in front (adds zero): per-channel INT8
    quantization makes ONNX Runtime log "Axis 1 is out-of-range for weight 'vector' with rank 1"."""
    root = tmp_path_factory.mktemp("vector")
    path = colour_detector(root / "colour.onnx", imgsz=(SIZE, SIZE), stride=CELL, family="yolo")
    model = onnx.load(str(path))
    graph, images = model.graph, model.graph.input[0].name
    for node in graph.node:
        node.input[:] = [f"{images}.mixed" if name == images else name for name in node.input]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.zeros(SIZE, np.float32), "vector"),
            numpy_helper.from_array(np.array([-1], np.int64), "last"),
        ]
    )
    front = [
        helper.make_node("MatMul", [images, "vector"], ["rowsum"]),
        helper.make_node("Unsqueeze", ["rowsum", "last"], ["rowsum.u"]),
        helper.make_node("Add", [images, "rowsum.u"], [f"{images}.mixed"]),
    ]
    nodes = [*front, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))
    return import_onnx(path, root / "bundle")


def test_cli_int8_prints_no_root_logger_warning(
    vector_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path
) -> None:
    result = run_cli(
        "optimize", str(vector_bundle.root), "--int8", "--calib", str(colour_data["calib"]),
        "--out", str(tmp_path / "out"), "--runs", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WARNING:root" not in result.stderr and "out-of-range" not in result.stderr
    assert "bundle written to" in result.stderr


def test_logging_configuration_is_left_as_it_was(
    vector_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path
) -> None:
    """In a fresh process (no logging configured): nothing printed, no handler left on the root
    logger (the quantizer's logging.warning used to run basicConfig), the messages kept at DEBUG."""
    images = sorted((colour_data["calib"] / "images").glob("*.png"))[:4]
    code = f"""
import logging
from pathlib import Path
from edgeloop.bundle import load_bundle
from edgeloop.export.quantize import PreprocessCalibrationReader, quantize_int8
bundle = load_bundle({str(vector_bundle.root)!r})
paths = [Path(p) for p in {[str(p) for p in images]!r}]
reader = PreprocessCalibrationReader(paths, bundle.manifest.input, "images")
seen = []
class Keep(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())
logging.getLogger("edgeloop").addHandler(Keep())
logging.getLogger("edgeloop").setLevel(logging.DEBUG)
quantize_int8(bundle.model_path(), Path({str(tmp_path / "int8.onnx")!r}), reader)
assert logging.getLogger().handlers == [], logging.getLogger().handlers
assert logging.getLogger().filters == [] and logging.getLogger("onnxruntime").propagate
assert any("out-of-range for weight 'vector'" in m for m in seen), seen
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok" and "WARNING" not in result.stderr


def test_other_records_pass_through() -> None:
    with captured_onnxruntime_logs() as records:
        logging.getLogger("someone.else").warning("still theirs")
    assert records == []
