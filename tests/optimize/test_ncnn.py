"""edgeloop optimize --ncnn: an ncnn variant converted with pnnx, measured, and run by edgeloop bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeloop.backends import NcnnConfig
from edgeloop.bundle import Bundle, load_bundle, pack, sha256_file
from edgeloop.hardware.bench import STAGES, report_schema
from edgeloop.predictor import Predictor
from edgeloop.testing.parity import need_ncnn, parity_detector, parity_images
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    need_ncnn(convert=True)
    return parity_detector(tmp_path_factory.mktemp("ncnn-optimize"), "yolo")


@pytest.fixture(scope="module")
def ncnn_bundle(source: Bundle, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("ncnn-out") / "bundle"
    result = run_cli(
        "optimize", str(source.root), "--ncnn", "--fp16", "--out", str(out), "--runs", "3", "--json"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


def test_optimize_adds_a_measured_ncnn_variant(
    source: Bundle, ncnn_bundle: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    out, report = ncnn_bundle
    variants = {v["file"]: v for v in report["variants"]}  # type: ignore[attr-defined]
    ncnn = variants["ncnn/model.ncnn.param"]
    assert ncnn["precision"] == "fp32" and ncnn["backend"] == "ncnn"
    assert ncnn["metrics"]["latency_ms"] > 0 and ncnn["metrics"]["speedup_vs_fp32"] > 0
    bundle = load_bundle(out)  # every file's sha256 checks
    assert report["default_variant"] == bundle.manifest.default_variant == "model.onnx"  # ONNX stays default
    variant = bundle.manifest.variant("fp32", "ncnn")
    assert variant.file == "ncnn/model.ncnn.param" and variant.backends == ["ncnn"]
    assert set(variant.extra_files) == {"ncnn/model.ncnn.bin", "ncnn/model.ncnn.json"}
    for name, digest in variant.extra_files.items():
        assert sha256_file(bundle.path(name)) == digest
    assert bundle.manifest.variant("fp32", "onnxruntime").file == "model.onnx"
    packed = load_bundle(pack(out, tmp_path / "b.tar"))  # the .tar carries the .bin and .json too
    with Predictor(packed, NcnnConfig()) as predictor:
        assert predictor.variant.file == variant.file
        assert len(predictor.predict(parity_images(1)[0])) > 0


def test_bench_times_each_stage_on_ncnn(ncnn_bundle: tuple[Path, dict[str, object]]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out, _ = ncnn_bundle
    result = run_cli(
        "bench", str(out), "--backend", "ncnn", "--backend", "onnxruntime", "--threads", "1",
        "--runs", "3", "--warmup", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.validate(data, report_schema())
    runs = {(r["variant"], r["backend"]) for r in data["results"]}
    assert runs == {  # each backend on its own files; ncnn has no fp16 variant (it reads no ONNX)
        ("ncnn/model.ncnn.param", "ncnn"),
        ("model.onnx", "onnxruntime"),
        ("model.fp16.onnx", "onnxruntime"),
    }
    (ncnn,) = [r for r in data["results"] if r["backend"] == "ncnn"]
    assert set(ncnn["stages"]) == set(STAGES) and ncnn["backend_config"] == {"threads": 1}
    assert ncnn["stages"]["total"]["p50_ms"] >= ncnn["stages"]["infer"]["p50_ms"] > 0


def test_bench_ncnn_without_an_ncnn_variant_says_how_to_make_one(source: Bundle) -> None:
    result = run_cli("bench", str(source.root), "--backend", "ncnn", "--runs", "1", "--warmup", "0")
    assert result.returncode == 1
    assert "edgeloop optimize BUNDLE --out NEW --ncnn" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_ncnn_cannot_run_is_refused_cleanly(yolo_bundle: Bundle, tmp_path: Path) -> None:
    need_ncnn(convert=True)
    result = run_cli("optimize", str(yolo_bundle.root), "--ncnn", "--out", str(tmp_path / "x"), "--runs", "3")
    assert result.returncode == 1
    assert "ncnn has no layer for operators of model.onnx" in result.stderr and "torch.gt" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
