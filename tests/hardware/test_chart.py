"""The advise chart, inspected through its matplotlib objects: round ticks, target lines, legend."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgeloop.hardware.advise import Estimate
from edgeloop.hardware.chart import (
    BUDGET_GID,
    TARGET_GID,
    best_per_device,
    fps_vs_cost_figure,
    fps_vs_cost_png,
    round_log_ticks,
)

ROUND = {1.0, 2.0, 2.5, 5.0}


def _estimate(device: str, price: float | None, fps: float, **extra: object) -> Estimate:
    fields: dict[str, object] = {
        "device": device,
        "device_name": device,
        "runtime": "onnxruntime",
        "unit": "cpu",
        "precision": "fp32",
        "imgsz": 640,
        "latency_ms": 1000 / fps,
        "fps": fps,
        "calibration": "all",
        "runtime_calibrated": True,
        "price_usd": price,
        "power_w": 5.0,
        "needs_int8": False,
    }
    return Estimate.model_validate(fields | extra)


# The catalog's prices: a linear axis to 1.1 x $1,999 ticked every fifth gave $440, $880, $1,319.
ESTIMATES = [
    _estimate("raspberry-pi-4", 55, 3.1, meets=False),
    _estimate("coral-usb", 60, 80.7, runtime="edgetpu", deployable=False, meets=False),
    _estimate("raspberry-pi-5", 80, 7.9, meets=False),
    _estimate("jetson-nano", 99, 31.2, meets=True),
    _estimate("jetson-orin-nano-super", 249, 160.0, meets=True),
    _estimate("jetson-agx-orin-64gb", 1999, 420.0, meets=False),
    _estimate("unpriced", None, 900.0, meets=True),
]


def _is_round(value: float) -> bool:
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return any(math.isclose(mantissa, m) for m in ROUND)


def test_round_log_ticks() -> None:
    assert round_log_ticks(55, 1999, (1, 2.5, 5)) == [50, 100, 250, 500, 1000, 2500]
    assert round_log_ticks(3, 160, (1, 2, 5)) == [2, 5, 10, 20, 50, 100, 200]
    with pytest.raises(ValueError):
        round_log_ticks(0, 10, (1, 2, 5))


def test_ticks_are_round_and_lines_are_drawn() -> None:
    fig = fps_vs_cost_figure(ESTIMATES, required_fps=30, budget_usd=300)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    for ticks, limits in ((ax.get_xticks(), ax.get_xlim()), (ax.get_yticks(), ax.get_ylim())):
        shown = [t for t in ticks if limits[0] <= t <= limits[1]]
        assert len(shown) >= 3 and all(_is_round(t) for t in shown), shown
    fig.canvas.draw()
    prices = [label.get_text() for label in ax.get_xticklabels()]
    assert "$1,000" in prices and "$250" in prices and "$440" not in prices
    lines = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    assert set(lines) == {TARGET_GID, BUDGET_GID}
    assert list(lines[TARGET_GID].get_ydata()) == [30, 30]
    assert list(lines[BUDGET_GID].get_xdata()) == [300, 300]
    xlo, xhi = ax.get_xlim()
    assert xlo <= 55 and xhi >= 1999


def test_points_are_numbered_with_a_legend() -> None:
    fig = fps_vs_cost_figure(ESTIMATES, required_fps=30, budget_usd=300)
    ax = fig.axes[0]
    numbers = [t.get_text() for t in ax.texts if t.get_text().isdigit()]
    assert numbers == [str(i) for i in range(1, 7)]  # one per priced device
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "budget: $300" and legend[1] == "needed: 30 FPS"
    assert any(t.startswith("2  coral-usb") and t.endswith("(not deployable)") for t in legend)
    assert not any("unpriced" in t for t in legend)


def test_best_option_prefers_deployable() -> None:
    options = [
        _estimate("box", 100, 50.0, runtime="ncnn", deployable=False),
        _estimate("box", 100, 20.0),
    ]
    assert best_per_device(options)[0].runtime == "onnxruntime"


def test_png_is_written(tmp_path: Path) -> None:
    out = fps_vs_cost_png(ESTIMATES, tmp_path / "sub" / "chart.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
