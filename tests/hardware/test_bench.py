"""edgeloop bench: real ONNX Runtime runs, JSON that validates against the published schema."""

from __future__ import annotations

import json

import pytest

from edgeloop.backends import NullConfig, OnnxRuntimeConfig
from edgeloop.bundle import Bundle
from edgeloop.errors import EdgeloopError
from edgeloop.hardware.bench import SCHEMA_VERSION, STAGES, BenchReport, bench_bundle, report_schema
from edgeloop.hardware.bench import __file__ as bench_file


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
