"""Drawing zones, lines and their live counts onto frames (for the video sink)."""

from __future__ import annotations

import numpy as np

from edgeloop.imaging import ImageArray
from edgeloop.optional import require_opencv
from edgeloop.stream.frames import LineState, Overlay, ZoneState

cv2 = require_opencv("drawing zones and lines", "stream")

# BGR; zones and lines take colours in turn, so the panel's swatch matches the shape.
PALETTE = ((0, 215, 255), (255, 0, 255), (255, 255, 0), (0, 128, 255), (128, 255, 0), (255, 128, 128))
PANEL_BGR = (32, 32, 32)
TEXT_BGR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_overlay(image: ImageArray, overlay: Overlay) -> ImageArray:
    """``image`` (HxWx3 BGR, drawn on in place) with every zone and line outlined and labelled,
    and a panel of live counts in its top-left corner: occupancy and entries per zone, in/out
    per line."""
    scale = _font_scale(image)
    thickness = max(2, round(scale * 4))  # survives lossy video encoding
    rows: list[tuple[str, tuple[int, int, int]]] = []
    for i, zone in enumerate(overlay.zones):
        colour = PALETTE[i % len(PALETTE)]
        _draw_zone(image, zone, colour, scale, thickness)
        rows.append((f"{zone.name}: {zone.occupancy} inside, {zone.entries} entries", colour))
    for j, line in enumerate(overlay.lines):
        colour = PALETTE[(len(overlay.zones) + j) % len(PALETTE)]
        _draw_line(image, line, colour, scale, thickness)
        rows.append((f"{line.name}: in {line.in_count}, out {line.out_count}", colour))
    _draw_panel(image, rows, scale)
    return image


def _font_scale(image: ImageArray) -> float:
    """Text about 2 % of the shorter side high: readable at 360p, not shouting at 4K."""
    return float(max(0.4, min(image.shape[:2]) / 900))


def _draw_zone(
    image: ImageArray, zone: ZoneState, colour: tuple[int, int, int], scale: float, thickness: int
) -> None:
    points = np.round(np.asarray(zone.polygon, np.float64)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(image, [points], isClosed=True, color=colour, thickness=thickness, lineType=cv2.LINE_AA)
    x, y = points.reshape(-1, 2).min(axis=0)
    _label(image, f"{zone.name} {zone.occupancy}", (int(x), int(y)), colour, scale)


def _draw_line(
    image: ImageArray, line: LineState, colour: tuple[int, int, int], scale: float, thickness: int
) -> None:
    start = (round(line.start[0]), round(line.start[1]))
    end = (round(line.end[0]), round(line.end[1]))
    cv2.line(image, start, end, colour, thickness, cv2.LINE_AA)
    for point in (start, end):
        cv2.circle(image, point, thickness + 2, colour, -1, cv2.LINE_AA)
    middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
    _label(image, f"{line.name} in {line.in_count} out {line.out_count}", middle, colour, scale)


def _label(
    image: ImageArray, text: str, anchor: tuple[int, int], colour: tuple[int, int, int], scale: float
) -> None:
    """``text`` on a filled box of ``colour`` just above ``anchor``, kept inside the image."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    height, width = image.shape[:2]
    x = min(max(anchor[0], 0), max(0, width - w - 4))
    y = min(max(anchor[1] - h - base - 4, 0), max(0, height - h - base - 4))
    cv2.rectangle(image, (x, y), (x + w + 4, y + h + base + 4), colour, -1)
    cv2.putText(image, text, (x + 2, y + h + 2), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def _draw_panel(image: ImageArray, rows: list[tuple[str, tuple[int, int, int]]], scale: float) -> None:
    if not rows:
        return
    sizes = [cv2.getTextSize(text, FONT, scale, 1) for text, _ in rows]
    row_h = max(h + base for (_, h), base in sizes) + 6
    swatch = row_h - 8
    width = max(w for (w, _), _ in sizes) + swatch + 16
    cv2.rectangle(image, (0, 0), (width, row_h * len(rows) + 6), PANEL_BGR, -1)
    for i, (text, colour) in enumerate(rows):
        top = 4 + i * row_h
        cv2.rectangle(image, (4, top + 2), (4 + swatch, top + 2 + swatch), colour, -1)
        cv2.putText(image, text, (swatch + 10, top + row_h - 8), FONT, scale, TEXT_BGR, 1, cv2.LINE_AA)
