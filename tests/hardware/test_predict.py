"""The latency model: exact fits on synthetic points, and its error on the published set."""

from __future__ import annotations

import pytest

from edgeloop.errors import ConfigError
from edgeloop.hardware.catalog import load_catalog
from edgeloop.hardware.predict import (
    Calibration,
    Workload,
    fit,
    fit_group,
    leave_one_out,
    load_measurements,
    median_abs_pct_error,
    predict,
)


def test_fit_recovers_efficiency_and_overhead() -> None:
    points = [(c, 0.5, 2.0 + c / 0.4 + 0.5) for c in (1.0, 5.0, 20.0, 80.0)]
    factor = fit_group(points)
    assert factor.efficiency == pytest.approx(0.4)
    assert factor.overhead_ms == pytest.approx(2.0)


def test_fit_never_returns_negative_overhead() -> None:
    factor = fit_group([(10.0, 0.0, 5.0), (20.0, 0.0, 20.0)])  # would need overhead < 0
    assert factor.overhead_ms == 0.0
    assert factor.efficiency > 0


def test_workload_scales_with_pixels() -> None:
    w = Workload(gflops=8.0, params=3e6, imgsz=640)
    assert w.at(320).gflops == pytest.approx(2.0)
    assert w.at(320).params == 3e6


def test_measurement_set_is_large_varied_and_cited() -> None:
    ms = load_measurements()
    catalog = load_catalog()
    assert len(ms) >= 25
    assert len({m.device for m in ms}) >= 6
    assert len({m.runtime for m in ms}) >= 3
    for m in ms:
        catalog.device(m.device)  # every device is catalogued
        assert m.source.startswith("https://"), m
        device = catalog.device(m.device)
        assert any(t.runtime == m.runtime and t.unit == m.unit for t in device.targets), m


def test_leave_one_out_error_within_target() -> None:
    pairs = leave_one_out(load_measurements(), load_catalog())
    assert median_abs_pct_error(pairs) <= 35


def test_predictions_grow_with_flops_and_prefer_specific_groups() -> None:
    catalog = load_catalog()
    calibration = fit(load_measurements(), catalog)
    pi5 = catalog.device("raspberry-pi-5")
    small = predict(Workload(2.0, 1e6), pi5, "ncnn", "cpu", "fp32", calibration)
    big = predict(Workload(20.0, 1e6), pi5, "ncnn", "cpu", "fp32", calibration)
    assert big.latency_ms > small.latency_ms
    assert small.group == "ncnn/fp32/cpu/arm64"
    coral = predict(Workload(2.0, 1e6), catalog.device("coral-usb"), "edgetpu", "npu", "int8", calibration)
    assert not coral.group.startswith("edgetpu")  # no Edge TPU measurements: a general group


def test_empty_calibration_is_an_error() -> None:
    pi5 = load_catalog().device("raspberry-pi-5")
    with pytest.raises(ConfigError, match="calibration is empty"):
        predict(Workload(1.0, 1.0), pi5, "ncnn", "cpu", "fp32", Calibration(factors={}))
