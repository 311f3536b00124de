"""A PNG chart of predicted FPS against device price, drawn with OpenCV (no plotting library)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.hardware.advise import Estimate
from edgeloop.optional import require_opencv

cv2 = require_opencv("the advise chart", "profile")

_W, _H, _L, _R, _T, _B = 960, 600, 80, 40, 50, 70
_GREEN, _GREY, _BLACK, _RED = (60, 160, 60), (150, 150, 150), (30, 30, 30), (40, 40, 200)


def best_per_device(estimates: list[Estimate]) -> list[Estimate]:
    """The fastest option of each device that has a price (preferring options that meet the need)."""
    best: dict[str, Estimate] = {}
    for e in estimates:
        if e.price_usd is None:
            continue
        current = best.get(e.device)
        if current is None or (bool(e.meets), e.fps) > (bool(current.meets), current.fps):
            best[e.device] = e
    return sorted(best.values(), key=lambda e: e.price_usd or 0)


def fps_vs_cost_png(estimates: list[Estimate], path: str | Path, required_fps: float | None = None) -> Path:
    """Draw each priced device's best predicted FPS (log scale) against its price; return the path."""
    points = best_per_device(estimates)
    if not points:
        raise EdgeloopError("no priced devices to chart: the catalog lists no price for any option")
    img = np.full((_H, _W, 3), 255, np.uint8)
    max_price = max(e.price_usd or 0 for e in points) * 1.1 or 1.0
    fps_values = [e.fps for e in points] + ([required_fps] if required_fps else [])
    lo = math.floor(math.log10(max(min(fps_values), 0.1)))
    hi = math.ceil(math.log10(max(fps_values) * 1.01))
    hi = hi if hi > lo else lo + 1

    def xy(price: float, fps: float) -> tuple[int, int]:
        x = _L + price / max_price * (_W - _L - _R)
        y = _H - _B - (math.log10(max(fps, 10.0**lo)) - lo) / (hi - lo) * (_H - _T - _B)
        return round(x), round(y)

    cv2.rectangle(img, (_L, _T), (_W - _R, _H - _B), _BLACK, 1)
    for decade in range(lo, hi + 1):
        _, y = xy(0, 10.0**decade)
        cv2.line(img, (_L, y), (_W - _R, y), (225, 225, 225), 1)
        cv2.putText(img, f"{10.0**decade:g}", (10, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, _BLACK, 1)
    for step in range(0, 6):
        price = max_price * step / 5
        x, _ = xy(price, 10.0**lo)
        cv2.putText(img, f"${price:,.0f}", (x - 20, _H - _B + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, _BLACK, 1)
    if required_fps:
        _, y = xy(0, required_fps)
        cv2.line(img, (_L, y), (_W - _R, y), _RED, 1)
        cv2.putText(img, f"needed {required_fps:g} FPS", (_W - _R - 170, y - 6), 0, 0.45, _RED, 1)
    for e in points:
        x, y = xy(e.price_usd or 0, e.fps)
        cv2.circle(img, (x, y), 6, _GREEN if e.meets else _GREY, -1)
        label = f"{e.device} {e.runtime} {e.precision} {e.imgsz or ''}".strip()
        (tw, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        lx = x + 8 if x + 8 + tw < _W - 4 else x - 8 - tw
        cv2.putText(img, label, (lx, y - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, _BLACK, 1)
    cv2.putText(img, "predicted FPS (log) vs device price", (_L, 30), 0, 0.6, _BLACK, 1)
    cv2.putText(img, "price (USD)", (_W // 2 - 40, _H - 20), 0, 0.5, _BLACK, 1)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise EdgeloopError(f"{out}: could not write the chart")
    return out
