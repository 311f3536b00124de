"""edgeloop bench: real ONNX Runtime runs, JSON that validates against the published schema."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edgeloop.backends import NullConfig, OnnxRuntimeConfig, OpenVinoConfig
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError, EdgeloopError
from edgeloop.hardware.bench import SCHEMA_VERSION, STAGES, BenchReport, bench_bundle, report_schema
from edgeloop.hardware.bench import __file__ as bench_file
from edgeloop.testing.components import need


def test_published_schema_is_current() -> None:
    with open(bench_file.replace("bench.py", "bench.schema.json")) as fh:
        assert json.load(fh) == report_schema()


def test_report_validates_against_schema(yolo_bundle: Bundle) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    report = bench_bundle(yolo_bundle, [OnnxRuntimeConfig(intra_op_threads=1)], warmup=1, runs=3)
    data = json.loads(report.model_dump_json())
    jsonschema.validate(data, report_schema())
    assert data["schema_version"] == SCHEMA_VERSION
    (run,) = report.results
    assert set(run.stages) == set(STAGES)
    assert run.stages["total"].p50_ms >= run.stages["infer"].p50_ms > 0
    assert run.stages["total"].p95_ms >= run.stages["total"].p50_ms
    assert run.fps == pytest.approx(1e3 / run.stages["total"].p50_ms, rel=1e-2)
    assert run.peak_rss_mb > 10
    assert run.imgsz == [640, 640]
    BenchReport.model_validate(data)


def test_each_backend_and_variant(yolo_bundle: Bundle) -> None:
    report = bench_bundle(yolo_bundle, [OnnxRuntimeConfig(), NullConfig()], warmup=0, runs=1)
    assert [r.backend for r in report.results] == ["onnxruntime", "null"]


def test_missing_precision(yolo_bundle: Bundle) -> None:
    with pytest.raises(EdgeloopError, match="no variant of precision int8"):
        bench_bundle(yolo_bundle, [OnnxRuntimeConfig()], precisions=["int8"], runs=1)


def _with_variant(yolo_bundle: Bundle, tmp_path: Path, **variant: Any) -> Bundle:
    """``yolo_bundle`` plus a variant whose file holds bytes no runtime reads."""
    root = tmp_path / "b"
    shutil.copytree(yolo_bundle.root, root)
    (root / variant["file"]).write_bytes(b"not a model")
    base = yolo_bundle.manifest.variants[0]
    manifest = yolo_bundle.manifest.model_copy(update={"variants": [base, base.model_copy(update=variant)]})
    return Bundle(root, manifest)


def test_a_file_made_for_another_backend_is_a_reported_skip(yolo_bundle: Bundle, tmp_path: Path) -> None:
    archive = {"file": "model.tar.xz", "precision": "fp16", "backends": ["depthai"]}
    bundle = _with_variant(yolo_bundle, tmp_path, **archive)
    report = bench_bundle(bundle, [OnnxRuntimeConfig()], warmup=0, runs=1)
    assert [(r.variant, r.backend) for r in report.results] == [("model.onnx", "onnxruntime")]
    (skip,) = report.skipped
    assert (skip.variant, skip.backend) == ("model.tar.xz", "onnxruntime")
    assert "runs on depthai, not onnxruntime" in skip.reason


def test_a_backend_failing_on_an_onnx_file_is_an_error(yolo_bundle: Bundle, tmp_path: Path) -> None:
    """OpenVINO reads ONNX: its failure on one is a real failure, not a format mismatch to skip."""
    need(importlib.util.find_spec("openvino") is not None, "openvino")
    bundle = _with_variant(yolo_bundle, tmp_path, file="model.fp16.onnx", precision="fp16")
    with pytest.raises(BackendError, match="OpenVINO could not load model.fp16.onnx"):
        bench_bundle(bundle, [OpenVinoConfig()], warmup=0, runs=1)
