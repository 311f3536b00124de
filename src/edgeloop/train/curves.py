"""The training chart: losses and validation scores per epoch, drawn from ``results.csv``.

matplotlib (from ``edgeloop[eval]``, which ``edgeloop[train]`` includes) draws on
an Agg canvas, not pyplot, so nothing global changes and no display is needed.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from edgeloop.errors import EdgeloopError

CHART = "results.png"
LOSSES = ("loss", "loss_box", "loss_cls", "loss_dfl")
SCORES = ("map50", "map50_95", "top1", "top5")


def read_results(path: Path) -> dict[str, list[float]]:
    """The columns of a ``results.csv`` as floats (an unreadable cell becomes NaN)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, text in row.items():
            try:
                value = float(text)
            except (TypeError, ValueError):
                value = float("nan")
            columns.setdefault(key, []).append(value)
    return columns


def _figure() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgeloopError("the chart needs matplotlib: pip install 'edgeloop[eval]'") from None
    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_results(run: Path) -> Path | None:
    """Write ``run/results.png`` from ``run/results.csv``; None when no epoch has finished yet.

    Raises:
        EdgeloopError: matplotlib is not installed.
    """
    source = run / "results.csv"
    if not source.is_file():
        return None
    columns = read_results(source)
    epochs = columns.get("epoch", [])
    if not epochs:
        return None
    fig = _figure()
    left, right = fig.subplots(1, 2)
    marker = "o" if len(epochs) <= 30 else None
    for key in LOSSES:
        if key in columns and any(v == v for v in columns[key]):  # skip all-NaN columns
            width = 2.5 if key == "loss" else 1.2
            left.plot(epochs, columns[key], marker=marker, markersize=3, linewidth=width, label=key)
    left.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    scores = [key for key in SCORES if key in columns]
    for key in scores:
        right.plot(epochs, columns[key], marker=marker, markersize=3, linewidth=1.8, label=key)
    title = "Validation"
    best_key = scores[1] if len(scores) > 1 and scores[0] == "map50" else (scores[0] if scores else None)
    if best_key is not None:
        values = columns[best_key]
        best = max(range(len(values)), key=lambda i: values[i] if values[i] == values[i] else -1.0)
        right.axvline(epochs[best], color="grey", linestyle=":", linewidth=1)
        right.plot([epochs[best]], [values[best]], marker="*", markersize=14, color="black", linestyle="")
        title = f"Validation: best {best_key} {values[best]:.3f}, epoch {epochs[best]:g} (best.pt)"
    right.set(xlabel="epoch", ylabel="validation score", title=title, ylim=(-0.02, 1.02))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left" if ax is right else "upper right", fontsize="small")
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    fig.suptitle(f"{run.name}: {len(epochs)} epochs")
    fig.tight_layout()
    path = run / CHART
    fig.savefig(path)
    return path
