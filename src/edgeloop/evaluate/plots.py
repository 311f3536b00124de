"""PNG plots of an evaluation: PR curves and confusion matrices (matplotlib, Agg backend).

matplotlib comes with ``edgeloop[eval]``; it is imported only when a plot is drawn.
Figures are made with ``matplotlib.figure.Figure`` on an Agg canvas, not pyplot,
so drawing touches no global state (no backend switch, no open windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset
from edgeloop.errors import EdgeloopError
from edgeloop.evaluate.confusion import detection_confusion
from edgeloop.evaluate.metrics import RECALL_POINTS, CocoPrecision, coco_precision
from edgeloop.types import Detections

MAX_LEGEND = 20  # more per-class curves than this are drawn without labels


def _figure(width_in: float, height_in: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgeloopError("plots need matplotlib: pip install 'edgeloop[eval]'") from None
    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def pr_curve_png(result: CocoPrecision, names: Sequence[str], path: Path) -> Path:
    """Precision-recall curve per class at IoU 0.5 (COCO's interpolated 101 points), and their mean."""
    fig = _figure(8, 6)
    ax = fig.subplots()
    present = result.instances > 0
    curves = result.precision[0]  # (101, K)
    for k, name in enumerate(names):
        if not present[k]:
            continue
        ap = float(curves[:, k].mean())
        label = f"{name} {ap:.3f}" if present.sum() <= MAX_LEGEND else None
        ax.plot(RECALL_POINTS, curves[:, k], linewidth=1, label=label)
    if present.any():
        mean = curves[:, present].mean(axis=1)
        ax.plot(RECALL_POINTS, mean, color="black", linewidth=3, label=f"all classes mAP50 {mean.mean():.3f}")
    ax.set(
        xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall, IoU 0.5"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)


def confusion_png(matrix: npt.NDArray[np.int64], labels: Sequence[str], path: Path, title: str) -> Path:
    """A confusion matrix, rows = true class, columns = predicted; colour = share of the row."""
    n = len(labels)
    size = min(4 + 0.45 * n, 24)
    fig = _figure(size + 1.5, size)
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, np.float64), where=rows > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 30:  # counts stay legible up to about this many classes
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize="small")
    ax.set_xticks(range(n), labels, rotation=90 if n > 8 else 0)
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="Predicted", ylabel="True", title=title)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    return path


def detection_plots(
    dataset: Dataset,
    predictions: Sequence[Detections],
    out_dir: Path,
    conf: float = 0.25,
    iou: float = 0.5,
) -> list[Path]:
    """Write ``pr_curve.png``, ``confusion_matrix.png`` and ``worst_boxes.png`` (at ``conf``, ``iou``)."""
    from edgeloop.evaluate.gallery import GALLERY, worst_boxes_png

    names = dataset.names
    matrix = detection_confusion(dataset, predictions, conf=conf, iou=iou)
    return [
        pr_curve_png(coco_precision(dataset, predictions), names, out_dir / "pr_curve.png"),
        confusion_png(
            matrix,
            [*names, "background"],
            out_dir / "confusion_matrix.png",
            f"Confusion matrix (conf {conf:g}, IoU {iou:g})",
        ),
        worst_boxes_png(dataset, predictions, out_dir / GALLERY, conf=conf, iou=iou),
    ]


def classification_plots(
    names: Sequence[str], confusion: Sequence[Sequence[int]], out_dir: Path
) -> list[Path]:
    """Write ``confusion_matrix.png`` of a classifier to ``out_dir``."""
    matrix = np.asarray(confusion, np.int64).reshape(len(names), len(names))
    return [confusion_png(matrix, names, out_dir / "confusion_matrix.png", "Confusion matrix (top-1)")]
