"""A PNG chart of predicted FPS against device price (matplotlib, Agg canvas, no pyplot).

Both axes are logarithmic with round ticks ($50, $100, $250, $500, $1,000 ...;
1, 2, 5, 10, 20 FPS ...). Each device is one numbered point (its best option);
the numbers are explained in a legend beside the plot, so long labels never
overlap. The FPS target and the budget are drawn as lines. Filled points are
options edgeloop can deploy; hollow ones need a runtime edgeloop has no
backend for. matplotlib comes with ``edgeloop[profile]``; it is imported only
when a chart is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeloop.errors import EdgeloopError
from edgeloop.hardware.advise import Estimate

PRICE_MANTISSAS = (1.0, 2.5, 5.0)
FPS_MANTISSAS = (1.0, 2.0, 5.0)
TARGET_GID, BUDGET_GID = "fps-target", "budget"
_MEETS, _FAILS, _NEUTRAL = "#3c9c3c", "#8c8c8c", "#2f6db5"
_TARGET, _BUDGET = "#c83232", "#7a4fb5"
# Where a point's number goes, in points from the point; the first far enough from the others wins.
_OFFSETS = ((6, 5), (6, -12), (-13, 5), (-13, -12), (0, 9), (0, -16))


def best_per_device(estimates: list[Estimate]) -> list[Estimate]:
    """The best option of each priced device: meeting the need first, then deployable, then fastest."""
    best: dict[str, Estimate] = {}
    for e in estimates:
        if e.price_usd is None:
            continue
        current = best.get(e.device)
        if current is None or _preference(e) > _preference(current):
            best[e.device] = e
    return sorted(best.values(), key=lambda e: (e.price_usd or 0, -e.fps))


def _preference(e: Estimate) -> tuple[bool, bool, float]:
    return bool(e.meets), e.deployable, e.fps


def round_log_ticks(lo: float, hi: float, mantissas: Sequence[float]) -> list[float]:
    """Round values ``m x 10^k`` (m in ``mantissas``) from the largest <= ``lo`` to the smallest >= ``hi``."""
    if lo <= 0 or hi < lo:
        raise ValueError(f"log ticks need 0 < lo <= hi, got {lo}, {hi}")
    values = sorted(
        m * 10.0**k
        for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
        for m in mantissas
    )
    below = max(v for v in values if v <= lo * (1 + 1e-9))
    above = min(v for v in values if v >= hi * (1 - 1e-9))
    return [float(f"{v:.6g}") for v in values if below <= v <= above]


def fps_vs_cost_figure(
    estimates: list[Estimate], required_fps: float | None = None, budget_usd: float | None = None
) -> Any:
    """The chart as a ``matplotlib.figure.Figure`` (one axes), for saving or inspecting.

    Raises:
        EdgeloopError: matplotlib missing, or no option has a price.
    """
    points = best_per_device(estimates)
    if not points:
        raise EdgeloopError("no priced devices to chart: the catalog lists no price for any option")
    fig = _new_figure()
    ax = fig.subplots()
    fig.subplots_adjust(left=0.08, right=0.58, top=0.92, bottom=0.1)  # the legend goes on the right
    prices = [e.price_usd or 0.0 for e in points] + ([budget_usd] if budget_usd else [])
    fps = [e.fps for e in points] + ([required_fps] if required_fps else [])
    x_ticks = round_log_ticks(max(min(prices), 1.0) / 1.15, max(prices) * 1.15, PRICE_MANTISSAS)
    y_ticks = round_log_ticks(max(min(fps), 0.1) / 1.3, max(fps) * 1.3, FPS_MANTISSAS)
    _axes(ax, x_ticks, y_ticks)
    handles = _points(ax, points)
    if required_fps:
        line = ax.axhline(required_fps, color=_TARGET, linestyle="--", linewidth=1.2, gid=TARGET_GID)
        line.set_label(f"needed: {required_fps:g} FPS")
        handles.insert(0, line)
    if budget_usd:
        line = ax.axvline(budget_usd, color=_BUDGET, linestyle=":", linewidth=1.5, gid=BUDGET_GID)
        line.set_label(f"budget: ${budget_usd:,.0f}")
        handles.insert(0, line)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=8,
        frameon=False,
        borderaxespad=0,
    )
    ax.set_title("predicted FPS vs device price (best option per device)", fontsize=11, loc="left")
    key = ["green: meets every limit", "grey: falls short"] if required_fps else []
    key.append("hollow: edgeloop has no backend for its runtime")
    ax.text(1.02, 0.0, "\n".join(key), transform=ax.transAxes, fontsize=8, va="bottom")
    return fig


def _new_figure() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgeloopError("the advise chart needs matplotlib: pip install 'edgeloop[profile]'") from None
    fig = Figure(figsize=(12, 6), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _axes(ax: Any, x_ticks: list[float], y_ticks: list[float]) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_ticks[0], x_ticks[-1])
    ax.set_ylim(y_ticks[0], y_ticks[-1])
    for axis, ticks, text in (
        (ax.xaxis, x_ticks, lambda v, _: f"${v:,.0f}"),
        (ax.yaxis, y_ticks, lambda v, _: f"{v:g}"),
    ):
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FuncFormatter(text))
        axis.set_minor_locator(NullLocator())
    ax.set_xlabel("device price (USD, log scale)")
    ax.set_ylabel("predicted FPS (log scale)")
    ax.grid(True, which="major", color="#e4e4e4", linewidth=0.8)
    ax.set_axisbelow(True)


def _points(ax: Any, points: list[Estimate]) -> list[Any]:
    """Draw the numbered points; return one legend handle per point."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    placed: list[tuple[float, float]] = []
    for number, e in enumerate(points, 1):
        colour = _NEUTRAL if e.meets is None else (_MEETS if e.meets else _FAILS)
        face = colour if e.deployable else "white"
        ax.plot(
            [e.price_usd], [e.fps], "o", markersize=8, color=colour, markerfacecolor=face, markeredgewidth=1.5
        )
        x, y = ax.transData.transform((e.price_usd, e.fps))
        dx, dy = max(
            _OFFSETS, key=lambda o: min((math.dist((x + o[0], y + o[1]), p) for p in placed), default=1e9)
        )
        placed.append((x + dx, y + dy))
        ax.annotate(
            str(number), (e.price_usd, e.fps), xytext=(dx, dy), textcoords="offset points", fontsize=8
        )
        label = (
            f"{number}  {e.device}: {e.runtime} {e.precision} {e.imgsz or ''}, "
            f"{e.fps:.1f} FPS, ${e.price_usd:,.0f}{'' if e.deployable else ' (not deployable)'}"
        )
        handles.append(
            Line2D([], [], marker="o", linestyle="", color=colour, markerfacecolor=face, label=label)
        )
    return handles


def fps_vs_cost_png(
    estimates: list[Estimate],
    path: str | Path,
    required_fps: float | None = None,
    budget_usd: float | None = None,
) -> Path:
    """Draw :func:`fps_vs_cost_figure` to a PNG at ``path``; return the path.

    Raises:
        EdgeloopError: matplotlib missing, no priced option, or the file cannot be written.
    """
    fig = fps_vs_cost_figure(estimates, required_fps, budget_usd)
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(str(out), format="png")
    except OSError as exc:
        raise EdgeloopError(f"{out}: could not write the chart ({exc})") from None
    return out


__all__ = ["best_per_device", "fps_vs_cost_figure", "fps_vs_cost_png", "round_log_ticks"]
