"""Exported dataset versions read back with edgeloop's loaders and `dataset check`, matching the manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from edgeloop.data.check import check_dataset
from edgeloop.data.formats import detect_format
from edgeloop.data.splits import available_splits, load_split
from edgeloop.errors import ConfigError, DatasetError
from edgeloop.hub import datasets
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.manifest import image_name, item_detections
from tests.hub.sample_rows import add_sample, backend_blobs, backend_engine


@pytest.fixture
def engine(hub_backend: tuple[str, str]) -> Iterator[sa.Engine]:
    yield from backend_engine(hub_backend[0])


@pytest.fixture
def blobs(hub_backend: tuple[str, str]) -> Iterator[BlobStore]:
    yield from backend_blobs(hub_backend[1])


BOXES = [
    [(20.0, 15.0, 10.0, 8.0, "car")],
    [(30.0, 20.0, 12.0, 10.0, "person"), (50.0, 30.0, 8.0, 12.0, "car")],
    [],  # an image with nothing in it is a valid example too
]


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_export_reads_back_as_the_manifest(
    engine: sa.Engine, blobs: BlobStore, tmp_path: Path, fmt: str
) -> None:
    for i in range(40):
        add_sample(engine, i, boxes=BOXES[i % 3], size_wh=(64 + i % 5, 48), blobs=blobs)
    version = datasets.create_version(engine, "street")
    out = tmp_path / f"export-{fmt}"
    result = datasets.export(engine, blobs, "street", None, out, fmt)
    assert version.manifest is not None
    assert result.counts == version.counts and result.version == 1
    assert result.boxes == sum(len(i["labels"]["predictions"]) for i in version.manifest["items"])
    present = tuple(s for s in ("train", "val", "test") if version.counts[s])
    assert available_splits(out) == present
    for split in present:
        assert detect_format(out / split) == fmt
        report = check_dataset(out / split)
        assert report.clean, report.as_dict()
        loaded = load_split(out, split).dataset
        assert loaded.names == version.names
        expected = {image_name(i): i for i in version.manifest["items"] if i["split"] == split}
        assert {item.name.rsplit("/", 1)[-1] for item in loaded.items} == set(expected)
        for item in loaded.items:
            entry = expected[item.name.rsplit("/", 1)[-1]]
            assert item.size_wh == (entry["width"], entry["height"])
            truth = item_detections(entry, version.names)
            assert item.detections is not None and len(item.detections) == len(truth)
            order_a = np.lexsort(item.detections.xyxy.T[::-1])
            order_b = np.lexsort(truth.xyxy.T[::-1])
            assert np.allclose(item.detections.xyxy[order_a], truth.xyxy[order_b], atol=0.02)
            assert list(item.detections.class_id[order_a]) == list(truth.class_id[order_b])
            assert item.image.read_bytes() == blobs.get(f"samples/{entry['sha256']}")
    record = (out / "dataset.json").read_text()
    assert version.fingerprint in record


def test_export_refuses_what_it_cannot_write_whole(
    engine: sa.Engine, blobs: BlobStore, tmp_path: Path
) -> None:
    shas = [add_sample(engine, i, blobs=blobs) for i in range(5)]
    datasets.create_version(engine, "street")
    with pytest.raises(ConfigError, match="yolo, coco or voc"):
        datasets.export(engine, blobs, "street", 1, tmp_path / "x", "folders")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        datasets.export(engine, blobs, "street", 1, tmp_path / "busy", "yolo")
    blobs.put(f"samples/{shas[2]}", b"not the image")
    with pytest.raises(DatasetError, match="corrupt blob"):
        datasets.export(engine, blobs, "street", 1, tmp_path / "bad", "yolo")
    blobs.delete(f"samples/{shas[3]}")
    blobs.put(f"samples/{shas[2]}", b"")  # still wrong: the missing one or the corrupt one fails first
    with pytest.raises(DatasetError, match=r"missing from the blob store|corrupt blob"):
        datasets.export(engine, blobs, "street", 1, tmp_path / "gone", "yolo")
    # Nothing half-written is left behind.
    assert not (tmp_path / "bad").exists() and not (tmp_path / "gone").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
