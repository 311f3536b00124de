"""What a dataset holds: instances and images per class, box sizes, image sizes; as text, JSON or a PNG.

Box size is the square root of the box's share of the image area, so 0.1 is a
box about a tenth of the image's side. The plot is drawn with OpenCV, a core
dependency, so no plotting library is needed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import detect_format, load_dataset
from edgeloop.data.issues import Issues
from edgeloop.errors import DatasetError
from edgeloop.optional import require_opencv

cv2 = require_opencv("dataset statistics", "data")

SIZE_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
BAR_WIDTH = 30
TOP_IMAGE_SIZES = 5


@dataclass(frozen=True)
class ClassStats:
    name: str
    instances: int
    images: int


@dataclass(frozen=True)
class DatasetStats:
    """Counts over a dataset. ``size_counts[i]`` counts boxes with size in ``[edges[i], edges[i+1])``."""

    path: str
    format: str
    task: str
    images: int
    boxes: int
    images_without_boxes: int
    classes: tuple[ClassStats, ...]
    size_edges: tuple[float, ...]
    size_counts: tuple[int, ...]
    image_sizes: dict[str, int]  # "WxH" -> images, the most common first
    defects: int  # what `dataset check` would report; the counts skip those

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dataset_stats(path: str | Path, format: str | None = None) -> DatasetStats:
    """Count a dataset at ``path``; a broken dataset is counted as far as it loads."""
    path = Path(path)
    fmt = format or detect_format(path)
    issues = Issues()
    ds = load_dataset(path, fmt, issues)
    return compute_stats(ds, str(path), fmt, len(issues.found))


def compute_stats(ds: Dataset, path: str = "", format: str = "", defects: int = 0) -> DatasetStats:
    """Counts over a loaded dataset (pure)."""
    instances: Counter[int] = Counter()
    images: Counter[int] = Counter()
    sizes: list[float] = []
    empty = 0
    for item in ds.items:
        if item.label is not None:
            instances[item.label] += 1
            images[item.label] += 1
            continue
        det = item.detections
        if det is None or len(det) == 0:
            empty += 1
            continue
        instances.update(det.class_id.tolist())
        images.update(set(det.class_id.tolist()))
        wh = det.xyxy[:, 2:] - det.xyxy[:, :2]
        area = wh[:, 0].astype(np.float64) * wh[:, 1] / (item.size_wh[0] * item.size_wh[1])
        sizes += np.sqrt(area[np.isfinite(area) & (area > 0)]).tolist()
    counts = (
        np.histogram(np.clip(sizes, 0, 1), bins=SIZE_EDGES)[0] if sizes else np.zeros(len(SIZE_EDGES) - 1)
    )
    shapes = Counter(f"{w}x{h}" for w, h in (item.size_wh for item in ds.items))
    classes = tuple(ClassStats(name, instances[i], images[i]) for i, name in enumerate(ds.names))
    return DatasetStats(
        path,
        format,
        ds.task,
        len(ds),
        sum(len(i.detections) for i in ds.items if i.detections is not None),
        empty if ds.task == "detect" else 0,
        classes,
        SIZE_EDGES,
        tuple(int(c) for c in counts),
        dict(shapes.most_common()),
        defects,
    )


def render_stats(stats: DatasetStats) -> list[str]:
    """The stats as text lines with bars."""
    lines = [
        f"{stats.path} ({stats.format}, {stats.task}): {stats.images} images, {stats.boxes} boxes, "
        f"{len(stats.classes)} classes"
        + (f", {stats.images_without_boxes} images without boxes" if stats.task == "detect" else "")
    ]
    if stats.defects:
        lines.append(f"({stats.defects} defects left out: see `edgeloop dataset check`)")
    width = max([len(c.name) for c in stats.classes] + [5])
    top = max([c.instances for c in stats.classes] + [1])
    lines.append(f"{'class':<{width}}  {'instances':>9}  {'images':>6}")
    for c in stats.classes:
        lines.append(f"{c.name:<{width}}  {c.instances:>9}  {c.images:>6}  {_bar(c.instances, top)}".rstrip())
    if stats.task == "detect":
        lines.append("box size (sqrt of box area / image area)")
        top = max([*stats.size_counts, 1])
        for lo, hi, n in zip(stats.size_edges, stats.size_edges[1:], stats.size_counts, strict=False):
            lines.append(f"  {lo:.2f}-{hi:.2f}  {n:>7}  {_bar(n, top)}".rstrip())
    shown = list(stats.image_sizes.items())[:TOP_IMAGE_SIZES]
    more = len(stats.image_sizes) - len(shown)
    lines.append(
        "image sizes: "
        + ", ".join(f"{s} ({n})" for s, n in shown)
        + (f", {more} other sizes" if more else "")
    )
    return lines


def _bar(n: int, top: int) -> str:
    return "#" * round(BAR_WIDTH * n / top) if n else ""


def plot_stats(stats: DatasetStats, path: str | Path) -> None:
    """Write a PNG: instances per class (left), box-size histogram (right; detection only)."""
    canvas = np.full((440, 1000, 3), 255, np.uint8)
    names = [c.name for c in stats.classes]
    _bars(canvas[:, :500], names, [c.instances for c in stats.classes], "instances per class")
    if stats.task == "detect":
        labels = [f"{lo:g}" for lo in stats.size_edges[:-1]]
        _bars(canvas[:, 500:], labels, list(stats.size_counts), "box size: sqrt(box area / image area)")
    path = Path(path)
    ok, data = cv2.imencode(".png", canvas)
    if not ok:
        raise DatasetError(f"{path}: could not encode the plot")
    path.write_bytes(data.tobytes())


def _bars(panel: np.ndarray, labels: list[str], values: list[int], title: str) -> None:
    """Vertical bars with the value above and the label below each one, drawn into ``panel`` in place."""
    font, dark, blue = cv2.FONT_HERSHEY_SIMPLEX, (40, 40, 40), (180, 110, 30)
    height, width = panel.shape[:2]
    cv2.putText(panel, title, (20, 28), font, 0.6, dark, 1, cv2.LINE_AA)
    top, bottom, left, right = 60, height - 50, 20, width - 20
    cv2.line(panel, (left, bottom), (right, bottom), dark, 1)
    if not values:
        return
    step = (right - left) / len(values)
    peak = max(max(values), 1)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x0, x1 = int(left + i * step + step * 0.15), int(left + (i + 1) * step - step * 0.15)
        y0 = int(bottom - (bottom - top) * value / peak)
        cv2.rectangle(panel, (x0, y0), (max(x1, x0 + 1), bottom), blue, -1)
        if step >= 24:  # room for text
            scale = 0.4 if step >= 50 else 0.3
            cv2.putText(panel, str(value), (x0, y0 - 4), font, scale, dark, 1, cv2.LINE_AA)
            text = label if len(label) * 7 * scale / 0.4 < step else label[: max(1, int(step / 7)) - 1] + "."
            cv2.putText(panel, text, (x0, bottom + 18), font, scale, dark, 1, cv2.LINE_AA)
