"""The advisor on crafted catalogs: its ranking and verdicts follow its own predictions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgeloop.errors import ConfigError
from edgeloop.hardware.advise import (
    Requirement,
    advise,
    backend_for,
    default_sizes,
    estimate_all,
    rank,
    runnable_sizes,
)
from edgeloop.hardware.catalog import Catalog, Device, Target, load_catalog
from edgeloop.hardware.predict import Calibration, Factor, Workload, fit, load_measurements
from edgeloop.hardware.profile import profile_onnx
from edgeloop.testing.onnx_models import random_yolo


def _device(
    slug: str,
    gops: float,
    price: float | None,
    watts: float | None,
    int8: float | None = None,
    runtime: str = "onnxruntime",
) -> Device:
    peaks = {"fp32": gops} | ({"int8": int8} if int8 else {})
    return Device(
        slug=slug,
        name=slug,
        peak_gops={"cpu": peaks},
        price_usd=price,
        power_w=watts,
        targets=[Target(runtime=runtime, unit="cpu", precisions=["fp32", "int8"] if int8 else ["fp32"])],
        sources={"peak_gops": "test", "price_usd": "test", "power_w": "test"},
    )


CATALOG = Catalog(
    devices=[
        _device("slow-cheap", 100, 50, 5),  # 10 GFLOPs -> 100 ms -> 10 FPS
        _device("fast-cheap", 1000, 80, 10),  # 10 ms -> 100 FPS
        _device("fast-dear", 2000, 500, 30),  # 5 ms -> 200 FPS
        _device("int8-only-fast", 100, 60, 5, int8=1000),  # fp32 10 FPS, int8 100 FPS
        _device("unpriced", 5000, None, 10),
    ]
)
CAL = Calibration(factors={"all": Factor(efficiency=1.0, overhead_ms=0.0, n=2)})
WORK = Workload(gflops=10.0, params=0.0, imgsz=640)


def test_every_option_is_estimated() -> None:
    estimates = estimate_all(WORK, CATALOG, CAL, sizes=[640, 320])
    assert len(estimates) == 2 * (1 + 1 + 1 + 2 + 1)
    fast = next(e for e in estimates if e.device == "fast-cheap" and e.imgsz == 640)
    assert fast.latency_ms == pytest.approx(10.0)
    assert fast.fps == pytest.approx(100.0)
    small = next(e for e in estimates if e.device == "fast-cheap" and e.imgsz == 320)
    assert small.latency_ms == pytest.approx(2.5)


def test_ranking_is_consistent_with_predictions() -> None:
    ranked = advise(WORK, Requirement(fps=20, streams=2), CATALOG, CAL, sizes=[640])
    meets = [e for e in ranked if e.meets]
    assert [e.device for e in meets] == ["int8-only-fast", "fast-cheap", "fast-dear", "unpriced"]
    assert all(e.fps >= 40 for e in meets)
    assert all(not e.meets and e.fps < 40 for e in ranked if e.device == "slow-cheap")
    assert ranked[: len(meets)] == meets  # everything that meets comes first
    prices = [e.price_usd if e.price_usd is not None else float("inf") for e in meets]
    assert prices == sorted(prices)
    assert meets[0].needs_int8 and meets[0].precision == "int8"
    for e in ranked:
        assert e.headroom == pytest.approx(e.fps / 40, rel=1e-3)


def test_budget_and_power_limits() -> None:
    ranked = advise(WORK, Requirement(fps=20, budget_usd=100, max_watts=20), CATALOG, CAL, sizes=[640])
    meeting = {e.device for e in ranked if e.meets}
    assert meeting == {"fast-cheap", "int8-only-fast"}
    dear = next(e for e in ranked if e.device == "fast-dear")
    assert "$500 > $100" in dear.reasons and "30 W > 20 W" in dear.reasons
    assert "price unknown" in next(e for e in ranked if e.device == "unpriced").reasons


def test_accuracy_filter_uses_the_bundle_metrics() -> None:
    maps = {"fp32": 0.40, "int8": 0.30}
    ranked = advise(WORK, Requirement(fps=20, min_map=0.35), CATALOG, CAL, sizes=[640], map_by_precision=maps)
    int8 = next(e for e in ranked if e.precision == "int8")
    assert not int8.meets and int8.accuracy_cost == pytest.approx(0.10)
    assert next(e for e in ranked if e.device == "fast-cheap").meets


def test_default_sizes() -> None:
    assert default_sizes(640) == [640, 480, 320]
    assert default_sizes(None) == []


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_answers_in_under_a_second(tmp_path: Path) -> None:
    model = random_yolo(tmp_path / "m.onnx")
    start = time.perf_counter()
    p = profile_onnx(model)
    catalog = load_catalog()
    calibration = fit(load_measurements(), catalog)
    ranked = advise(
        Workload(p.gflops, p.params, p.imgsz), Requirement(fps=15, streams=2), catalog, calibration
    )
    assert time.perf_counter() - start < 1.0
    assert len(ranked) > 100


def test_runtimes_edgeloop_cannot_deploy_are_marked_and_never_the_pick() -> None:
    catalog = Catalog(
        devices=[
            _device("ort-box", 1000, 80, 10),
            _device("hailo-box", 3000, 50, 5, runtime="hailort"),  # faster and cheaper, but no backend
            _device("gpu-box", 1000, 90, 10, runtime="onnxruntime-gpu"),
        ]
    )
    ranked = advise(WORK, Requirement(fps=20), catalog, CAL, sizes=[640])
    flags = {e.device: e.deployable for e in ranked}
    assert flags == {"ort-box": True, "hailo-box": False, "gpu-box": True}
    hailo = next(e for e in ranked if e.device == "hailo-box")
    assert not hailo.meets and any("no hailort backend" in r for r in hailo.reasons)
    assert ranked[0].device == "ort-box"
    included = advise(WORK, Requirement(fps=20, include_undeployable=True), catalog, CAL, sizes=[640])
    assert next(e for e in included if e.device == "hailo-box").meets
    assert [e.device for e in rank(included)][:2] == ["ort-box", "gpu-box"]  # deployable ones first
    assert hailo.model_dump()["deployable"] is False  # the --json field


def test_backend_for_catalog_runtimes() -> None:
    assert backend_for("onnxruntime") == "onnxruntime"
    assert backend_for("onnxruntime-gpu") == "onnxruntime"
    assert backend_for("openvino-gpu") == "openvino"
    assert backend_for("tensorrt") == "tensorrt"
    runtimes = {t.runtime for d in load_catalog().devices for t in d.targets}
    undeployable = {r for r in runtimes if backend_for(r) is None}
    assert backend_for("ncnn") == "ncnn"
    assert undeployable == {"tflite", "hailort", "depthai", "edgetpu", "rknn"}


def test_a_fixed_input_runs_at_its_own_size_only() -> None:
    assert runnable_sizes(None, 640, dynamic=False) == ([640], [])
    assert runnable_sizes([640, 320], 640, dynamic=False) == ([640], [320])
    with pytest.raises(ConfigError, match="fixed at 640x640"):
        runnable_sizes([320], 640, dynamic=False)
    assert runnable_sizes(None, 640, dynamic=True) == ([640, 480, 320], [])
    assert runnable_sizes([512, 256], 640, dynamic=True) == ([512, 256], [])
