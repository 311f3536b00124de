"""Dataset version manifests: split assignment, canonical labels, fingerprints (pure functions).

A manifest is ``{"names": [...], "items": [...]}`` with items sorted by sha256, each
``{"sha256", "split", "width", "height", "media_type", "source", "labels"}`` where
``labels`` is the detection wire format (DESIGN.md) of the boxes a person gave (``source``
``"labelled"``) or of the device's predictions taken as labels (``"predictions"``).
Labels are canonical: boxes clipped to the image, zero-area boxes dropped, sorted, ids
indexing ``names``, so identical content always gives the identical fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeloop.errors import ConfigError
from edgeloop.types import Detections

SPLITS = ("train", "val", "test")
_TOLERANCE = 1e-6  # fractions written as 0.8/0.1/0.1 do not sum to exactly 1.0 in floats


@dataclass(frozen=True)
class Fractions:
    """How new samples are split; samples already assigned keep their split forever."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        values = (self.train, self.val, self.test)
        if any(not math.isfinite(v) or v < 0 for v in values) or abs(sum(values) - 1) > _TOLERANCE:
            raise ConfigError(
                f"split fractions train {self.train:g}, val {self.val:g}, test {self.test:g} must be "
                "non-negative and sum to 1; e.g. --train 0.8 --val 0.1 --test 0.1"
            )

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable dataset version.

    Attributes:
        manifest: the full manifest, or None in listings (``list_versions``).
        created: False when ``create_version`` found the latest version identical and returned it.
    """

    name: str
    version: int
    fingerprint: str
    parent: int | None
    created_at: float
    note: str
    names: tuple[str, ...]
    counts: dict[str, int]
    manifest: dict[str, Any] | None = None
    created: bool = True

    def summary(self) -> dict[str, Any]:
        """JSON-ready description without the manifest's items."""
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "parent": self.parent,
            "created_at": self.created_at,
            "note": self.note,
            "names": list(self.names),
            "counts": dict(self.counts),
            "images": sum(self.counts.get(s, 0) for s in SPLITS),
        }


@dataclass(frozen=True)
class SampleRow:
    """What a manifest needs from one sample row."""

    sha256: str
    split: str
    width: int
    height: int
    media_type: str
    source: str  # "labelled" | "predictions"
    wire: Mapping[str, Any] | None  # detection wire JSON (labels, or predictions)


def assign_split(sha256: str, fractions: Fractions, seed: int = 0) -> str:
    """The split a sample gets the first time a version takes it: a uniform draw from its hash."""
    digest = hashlib.sha256(f"{seed}:{sha256}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < fractions.train:
        return "train"
    if u < fractions.train + fractions.val:
        return "val"
    return "test" if fractions.test > 0 else ("val" if fractions.val > 0 else "train")


def canonical_boxes(wire: Mapping[str, Any] | None, size_wh: tuple[int, int]) -> list[dict[str, Any]]:
    """Boxes of a wire-format object, clipped to the image, zero-area dropped, sorted.

    Each box is ``{"x", "y", "width", "height", "class"}`` (centres in pixels); corners are
    rounded to 0.01 px first so the same boxes always serialise the same way.
    """
    width, height = size_wh
    boxes = []
    for p in (wire or {}).get("predictions") or []:
        try:
            x, y, w, h = (float(p[k]) for k in ("x", "y", "width", "height"))
        except (KeyError, TypeError, ValueError):
            continue  # a box without numbers has no place in a dataset
        name = str(p.get("class", p.get("class_id", "")))
        if not name or not all(math.isfinite(v) for v in (x, y, w, h)):
            continue
        x1, x2 = (round(min(max(v, 0.0), width), 2) for v in (x - w / 2, x + w / 2))
        y1, y2 = (round(min(max(v, 0.0), height), 2) for v in (y - h / 2, y + h / 2))
        if x2 <= x1 or y2 <= y1:
            continue
        boxes.append((x1, y1, x2, y2, name))
    return [
        {
            "x": round((x1 + x2) / 2, 3),
            "y": round((y1 + y2) / 2, 3),
            "width": round(x2 - x1, 2),
            "height": round(y2 - y1, 2),
            "class": name,
        }
        for x1, y1, x2, y2, name in sorted(set(boxes))
    ]


def class_names(
    boxes: Iterable[Sequence[Mapping[str, Any]]], previous: Sequence[str] = ()
) -> tuple[str, ...]:
    """The previous version's names (ids stay stable), then new classes in sorted order."""
    seen = {str(b["class"]) for item in boxes for b in item}
    return (*previous, *sorted(seen - set(previous)))


def build_manifest(rows: Sequence[SampleRow], previous_names: Sequence[str] = ()) -> dict[str, Any]:
    """The manifest of ``rows`` (any order); class ids follow ``previous_names`` where they can."""
    ordered = sorted(rows, key=lambda r: r.sha256)
    boxes = [canonical_boxes(r.wire, (r.width, r.height)) for r in ordered]
    names = class_names(boxes, previous_names)
    index = {n: i for i, n in enumerate(names)}
    items = []
    for row, item_boxes in zip(ordered, boxes, strict=True):
        labels = {
            "image": {"width": row.width, "height": row.height},
            "predictions": [{**b, "class_id": index[b["class"]]} for b in item_boxes],
        }
        items.append(
            {
                "sha256": row.sha256,
                "split": row.split,
                "width": row.width,
                "height": row.height,
                "media_type": row.media_type,
                "source": row.source,
                "labels": labels,
            }
        )
    return {"names": list(names), "items": items}


def split_counts(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Images per split."""
    counts = dict.fromkeys(SPLITS, 0)
    for item in manifest["items"]:
        counts[item["split"]] += 1
    return counts


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8 (the form fingerprints are taken of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(manifest: Mapping[str, Any]) -> str:
    """sha256 (hex) of the manifest's canonical JSON."""
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


def item_detections(item: Mapping[str, Any], names: Sequence[str]) -> Detections:
    """A manifest item's labels as ``Detections``: (N, 4) pixel xyxy, confidence 1."""
    rows = item["labels"]["predictions"]
    xyxy = [
        [b["x"] - b["width"] / 2, b["y"] - b["height"] / 2, b["x"] + b["width"] / 2, b["y"] + b["height"] / 2]
        for b in rows
    ]
    return Detections(
        np.asarray(xyxy, np.float32).reshape(len(rows), 4),
        np.ones(len(rows), np.float32),
        np.asarray([b["class_id"] for b in rows], np.int32),
        tuple(names),
    )


MEDIA_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/bmp": ".bmp"}


def image_name(item: Mapping[str, Any]) -> str:
    """The file name of an item's image in an export: its sha256 and a suffix from its media type."""
    return item["sha256"] + MEDIA_SUFFIXES.get(str(item.get("media_type", "")), ".jpg")
