"""What the retrain tests need: synthetic labelled samples in a real hub, a weak first model.

Two classes of synthetic shapes, uploaded through the real API with their true boxes as the
device's predictions; dataset versions take them with ``include_pending`` (predictions as labels).
"Shuffled" samples keep their true boxes in the images the hub puts in the fixed test split
(``assign_split`` is a pure function of the image hash); elsewhere each image carries another
image's boxes: label files mixed up, a mistake the gate must catch.

Measured on the 2-core machine (docs/retrain/jobs.md): the weak first model (4 epochs from
scratch) scores mAP50-95 0.000 on the test split, six more epochs on good labels 0.038, and two
epochs on shuffled labels from there 0.002 (refused: -3.3 points).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import synth_detection
from edgeloop.hub.manifest import Fractions, assign_split
from edgeloop.testing.hub_server import HubServer

SIZE = 96  # synthetic image side and training input, pixels
CLASSES = ("square", "circle")
# What a job trains: a few epochs at a high learning rate, one torch thread (the suite shares cores).
TRAIN: dict[str, Any] = {
    "imgsz": SIZE,
    "batch": 8,
    "mosaic": 0.0,
    "lr": 0.004,
    "freeze": 0.0,
    "threads": 1,
    "seed": 1,
}


def samples(n: int, seed: int, shuffle: bool = False) -> list[tuple[bytes, dict[str, Any]]]:
    """``n`` synthetic PNGs with their boxes in the wire format. ``shuffle``: the images the hub
    will not put in the test split get each other's boxes (a permutation of the label files)."""
    with tempfile.TemporaryDirectory() as tmp:
        synth_detection(Path(tmp) / "ds", n, SIZE, seed=seed, classes=CLASSES)
        ds = load_dataset(Path(tmp) / "ds")
        names = list(ds.names)
        images = [item.image.read_bytes() for item in ds.items]
        labels = []
        for item in ds.items:
            rows = zip(item.detections.xyxy.tolist(), item.detections.class_id.tolist(), strict=True)
            boxes = [
                {**_box(x1, y1, x2, y2), "confidence": 1.0, "class": names[c], "class_id": int(c)}
                for (x1, y1, x2, y2), c in rows
            ]
            labels.append({"image": {"width": SIZE, "height": SIZE}, "predictions": boxes})
    if shuffle:
        moved = [i for i, data in enumerate(images) if _split(data) != "test"]
        order = np.random.default_rng(seed).permutation(moved)
        labels = list(labels)
        originals = [labels[i] for i in order]
        for i, label in zip(moved, originals, strict=True):
            labels[i] = label
    return list(zip(images, labels, strict=True))


def _box(x1: float, y1: float, x2: float, y2: float) -> dict[str, float]:
    return {"x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "width": x2 - x1, "height": y2 - y1}


def _split(data: bytes) -> str:
    """The split the hub gives this image in a new version (default fractions and seed)."""
    return assign_split(hashlib.sha256(data).hexdigest(), Fractions())


def upload(server: HubServer, device: str, items: list[tuple[bytes, dict[str, Any]]]) -> None:
    """Register ``device`` and upload ``items`` as its samples."""
    token = server.add_device(device)
    for data, predictions in items:
        meta = {
            "captured_at": 1_700_000_000.0,
            "width": SIZE,
            "height": SIZE,
            "model_name": "shapes",
            "model_version": "1",
            "predictions": predictions,
            "sampler": "uncertainty",
            "score": 0.5,
            "reason": "test",
            "tags": [],
        }
        status, body = server.upload(token, data, meta)
        assert status in (200, 201), (status, body)


def dataset(server: HubServer, name: str, device: str) -> dict[str, Any]:
    """A new version of ``name`` from ``device``'s samples (their predictions as labels)."""
    status, body = server.json(
        "POST", "/api/v1/datasets", {"name": name, "where": {"device": device}, "include_pending": True}
    )
    assert status == 201, body
    return body


def weak_run(folder: Path, epochs: int = 4) -> Path:
    """A deliberately weak first model: a few short epochs from scratch (its data stays in
    ``folder``: ``export_run`` reads the validation set)."""
    from edgeloop.train.config import TrainConfig
    from edgeloop.train.loop import Trainer

    synth_detection(folder / "data" / "train", 96, SIZE, seed=101, classes=CLASSES)
    synth_detection(folder / "data" / "val", 16, SIZE, seed=102, classes=CLASSES)
    settings = {k: v for k, v in TRAIN.items() if k != "freeze"}
    config = TrainConfig(data=str(folder / "data"), out=str(folder / "run"), epochs=epochs, **settings)
    Trainer(config).fit()
    return folder / "run"
