"""A hub holding the five frames of tests/improve/labelling.py as pending samples, for the hand-off tests.

The samples carry the boxes a device's detector reported (the coloured squares,
as the wire format), so the scripted labellers of ``tests.improve.labelling``
make the same four corrections here as on a spool export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from edgeloop.data import Dataset, Item
from edgeloop.data.dataset import labelled_boxes
from edgeloop.hub import schema
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.hub.ingest import sample_key
from edgeloop.hub.migrations import upgrade
from edgeloop.imaging import encode_jpeg
from tests.improve import labelling

COLOUR_NAMES = {labelling.RED: "red", labelling.GREEN: "green", labelling.BLUE: "blue"}
NAMES = labelling.NAMES


@dataclass
class LabelHub:
    engine: sa.Engine
    blobs: Any
    shas: list[str]  # in capture order
    folder: Path

    def rows(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return {r.sha256: r for r in conn.execute(sa.select(schema.samples))}

    def pre(self) -> Dataset:
        """The pre-annotations as a dataset whose item names are the exported file names."""
        rows = self.rows()
        items = []
        for sha in self.shas:
            preds = rows[sha].predictions["predictions"]
            xyxy = [
                [p["x"] - p["width"] / 2, p["y"] - p["height"] / 2, p["x"] + p["width"] / 2,
                 p["y"] + p["height"] / 2]
                for p in preds
            ]  # fmt: skip
            boxes = labelled_boxes(xyxy, [NAMES.index(p["class"]) for p in preds], NAMES)
            image = self.folder / "images" / f"{sha}.jpg"
            items.append(Item(image, f"{sha}.jpg", (640, 480), boxes))
        return Dataset(NAMES, tuple(items))

    def labels(self, sha: str) -> tuple[np.ndarray, list[str]] | None:
        """A sample's labels as (xyxy, class names), None when it has none."""
        wire = self.rows()[sha].labels
        if wire is None:
            return None
        preds = wire["predictions"]
        xyxy = np.asarray(
            [[p["x"] - p["width"] / 2, p["y"] - p["height"] / 2, p["x"] + p["width"] / 2,
              p["y"] + p["height"] / 2] for p in preds],
            np.float64,
        ).reshape(-1, 4)  # fmt: skip
        assert [p["class_id"] for p in preds] == [NAMES.index(p["class"]) for p in preds], "the devices' ids"
        return xyxy, [str(p["class"]) for p in preds]


def wire(squares: list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]) -> dict[str, Any]:
    predictions = []
    for colour, (x1, y1, x2, y2) in squares:
        name = COLOUR_NAMES[colour]
        predictions.append(
            {"x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "width": x2 - x1, "height": y2 - y1,
             "confidence": 0.9, "class": name, "class_id": NAMES.index(name)}
        )  # fmt: skip
    return {"image": {"width": 640, "height": 480}, "predictions": predictions}


def add_samples(engine: sa.Engine, blobs: Any, device: str = "cam-1", sampler: str = "random") -> list[str]:
    """The five frames as pending samples of ``device``, a minute apart; their sha256 in that order."""
    shas = []
    with engine.begin() as conn:
        if conn.execute(sa.select(schema.devices).where(schema.devices.c.name == device)).first() is None:
            conn.execute(sa.insert(schema.devices).values(name=device, created_at=labelling.START_TIME))
        for i, squares in enumerate(labelling.FRAMES):
            data = encode_jpeg(labelling.frame(squares))
            sha = hashlib.sha256(data).hexdigest()
            blobs.put(sample_key(sha), data)
            predictions = wire(squares)
            classes = "," + ",".join(sorted({p["class"] for p in predictions["predictions"]})) + ","
            conn.execute(
                sa.insert(schema.samples).values(
                    sha256=sha, device=device, received_at=labelling.START_TIME + 60 * i + 5,
                    captured_at=labelling.START_TIME + 60 * i, bytes=len(data), width=640, height=480,
                    media_type="image/jpeg", model_name="colours", model_version="3",
                    predictions=predictions, classes=classes, sampler=sampler, score=0.5 + i / 10,
                    reason="random", tags=["test"],
                )
            )  # fmt: skip
            shas.append(sha)
    return shas


@contextmanager
def label_hub(folder: Path, db_url: str | None = None, blobs_url: str | None = None) -> Iterator[LabelHub]:
    """A hub database (SQLite in ``folder`` unless ``db_url``; migrated as ``hub migrate`` does) and
    blob store (a folder in ``folder`` unless ``blobs_url``) holding the five samples."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(db_url or f"sqlite:///{folder / 'hub.db'}")
    upgrade(engine)
    blobs = open_blobs(blobs_url or str(folder / "blobs"))
    try:
        yield LabelHub(engine, blobs, add_samples(engine, blobs), folder)
    finally:
        blobs.close()
        engine.dispose()


def check_labels(hub: LabelHub, unlabelled_last: bool = False) -> None:
    """Every sample holds the scripted labeller's result (boxes within 1 px); the last one is still
    pending when ``unlabelled_last``."""
    want = labelling.expected(hub.pre())
    rows = hub.rows()
    for n, (sha, item) in enumerate(zip(hub.shas, want.items, strict=True)):
        if unlabelled_last and n == len(hub.shas) - 1:
            assert rows[sha].status == "pending" and rows[sha].labels is None
            continue
        got = hub.labels(sha)
        assert got is not None and rows[sha].status == "labelled", n
        assert item.detections is not None
        assert got[1] == [labelling.NAMES[c] for c in item.detections.class_id.tolist()], n
        np.testing.assert_allclose(got[0], item.detections.xyxy, atol=1.0, err_msg=str(n))
        assert rows[sha].labelled_by and rows[sha].labelled_at is not None
