"""The demo's scripted labeller: a stand-in for a person, using the synthetic ground truth.

A person would open each captured frame in the hub's review page (or Label Studio, CVAT),
correct the device's boxes and accept. The demo cannot ask a person, so this script does the
same through the hub's review API (``GET /api/v1/review/next``, ``POST /api/v1/review/{sha256}``)
with the true boxes: it finds the captured frame among the frames the demo drew (nearest pixels:
the frame went through the video's and capture's JPEG compression) and sends that frame's labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgeloop.demo.hubproc import DemoError, Hub
from edgeloop.optional import require_opencv

cv2 = require_opencv("the demo", "train")

REVIEWER = "scripted-labeller (stand-in for a person; synthetic ground truth)"
THUMB = 32
MAX_DISTANCE = 12.0  # mean absolute grey-level difference of a match (0-255); JPEG noise is ~2


@dataclass(frozen=True)
class Labelled:
    """What the labeller did: samples labelled, boxes sent, boxes the device had predicted."""

    samples: int
    boxes: int
    predicted: int
    unmatched: int


def _thumb(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)


class GroundTruth:
    """The frames the demo drew (a YOLO folder) and their true boxes in the wire format."""

    def __init__(self, frames: Path) -> None:
        from edgeloop.data.formats import load_dataset

        ds = load_dataset(frames)
        self.names = ds.names
        self.items = ds.items
        self.thumbs = np.stack([_thumb(cv2.imread(str(item.image))) for item in ds.items])

    def match(self, image: npt.NDArray[np.uint8]) -> tuple[int, float]:
        """The index of the drawn frame nearest ``image`` and its distance."""
        distances = np.abs(self.thumbs - _thumb(image)[None]).mean(axis=(1, 2))
        best = int(np.argmin(distances))
        return best, float(distances[best])

    def boxes(self, index: int) -> list[dict[str, float | str]]:
        dets = self.items[index].detections
        if dets is None:
            return []
        rows = zip(dets.xyxy.tolist(), dets.class_id.tolist(), strict=True)
        return [
            {
                "x": (x1 + x2) / 2,
                "y": (y1 + y2) / 2,
                "width": x2 - x1,
                "height": y2 - y1,
                "class": self.names[c],
            }
            for (x1, y1, x2, y2), c in rows
        ]


def label_captured(hub: Hub, truth: GroundTruth, device: str) -> Labelled:
    """Accept every pending sample of ``device`` with its true boxes, through the review API."""
    samples = boxes = predicted = 0
    skipped: list[str] = []
    while True:
        query = f"/api/v1/review/next?device={device}&limit=50&skip={','.join(skipped)}"
        items = hub.json("GET", query)["items"]
        if not items:
            return Labelled(samples, boxes, predicted, len(skipped))
        for item in items:
            status, data = hub.request("GET", item["image"])
            if status != 200:
                raise DemoError(f"GET {item['image']}: {status}")
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            index, distance = truth.match(image)
            if distance > MAX_DISTANCE:  # not a frame the demo drew: leave it for a person
                skipped.append(item["sha256"])
                continue
            true_boxes = truth.boxes(index)
            decision = {"action": "accept", "boxes": true_boxes, "reviewer": REVIEWER}
            hub.json("POST", f"/api/v1/review/{item['sha256']}", decision)
            samples += 1
            boxes += len(true_boxes)
            predicted += len(item["predictions"].get("predictions") or [])
