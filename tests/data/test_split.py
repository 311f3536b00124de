"""`dataset split` is stratified, deterministic and loses nothing; `dataset merge` maps classes by name."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.data import Dataset, Item
from edgeloop.data.dataset import labelled_boxes
from edgeloop.data.formats import load_dataset, save_dataset
from edgeloop.data.split import merge_datasets, split_dataset
from edgeloop.errors import DatasetError
from tests.conftest import run_cli

NAMES = ("common", "medium", "rare")


def detection_set(n: int = 300, seed: int = 7) -> Dataset:
    """In-memory detection set: every image has 'common'; 30% also 'medium'; 6% also 'rare'; 10% no boxes."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        roll = rng.random()
        classes = [] if roll < 0.1 else [0, 1] if roll < 0.4 else [0, 2] if roll < 0.46 else [0]
        boxes = [[1, 1, 5, 5]] * len(classes)
        det = labelled_boxes(boxes, classes, NAMES)
        items.append(Item(Path(f"/nowhere/{i}.png"), f"{i:04d}.png", (8, 8), det))
    return Dataset(NAMES, tuple(items), "detect")


def _share(parts: dict[str, Dataset], split: str, cls: int) -> tuple[int, int]:
    def has(item: Item) -> bool:
        return item.detections is not None and cls in item.detections.class_id.tolist()

    total = sum(has(i) for p in parts.values() for i in p.items)
    return sum(has(i) for i in parts[split].items), total


def test_split_is_stratified_complete_and_deterministic() -> None:
    ds = detection_set()
    parts = split_dataset(ds, val=0.2, test=0.1, seed=0)
    names = [i.name for p in parts.values() for i in p.items]
    assert sorted(names) == sorted(i.name for i in ds.items), "no image lost or duplicated"
    assert [len(parts[k]) for k in ("train", "val", "test")] == [210, 60, 30]
    for split, fraction in (("val", 0.2), ("test", 0.1)):
        for cls in range(3):
            got, total = _share(parts, split, cls)
            # Each stratum is within one image of its share (rare: ~18 images, so 3.6 of them in val).
            assert abs(got - fraction * total) <= 1.5, (split, NAMES[cls], got, total)
    again = split_dataset(ds, val=0.2, test=0.1, seed=0)
    assert all(again[k].items == parts[k].items for k in parts)
    other = split_dataset(ds, val=0.2, test=0.1, seed=1)
    assert other["val"].items != parts["val"].items


def test_classification_split_by_label() -> None:
    items = tuple(Item(Path(f"/x/{i}.png"), f"{i}.png", (8, 8), label=int(i % 10 == 0)) for i in range(100))
    parts = split_dataset(Dataset(("many", "few"), items, "classify"), val=0.3, seed=3)
    assert Counter(i.label for i in parts["val"].items) == {0: 27, 1: 3}
    assert "test" not in parts


@pytest.mark.parametrize(("val", "test"), [(0.6, 0.5), (-0.1, 0.0)])
def test_bad_fractions(val: float, test: float) -> None:
    with pytest.raises(DatasetError, match="sum to less than 1"):
        split_dataset(detection_set(10), val, test)


def _images(root: Path, names: list[str], value: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(root / name), np.full((20, 30, 3), value, np.uint8))
    return [root / n for n in names]


def test_merge_maps_classes_by_name_and_renames_clashes(tmp_path: Path) -> None:
    a_files = _images(tmp_path / "ra", ["x.png", "y.png"], 10)
    b_files = _images(tmp_path / "rb", ["x.png", "z.png"], 200)
    a = Dataset(
        ("cat", "dog"),
        (
            Item(
                a_files[0],
                "x.png",
                (30, 20),
                labelled_boxes([[1, 1, 9, 9], [2, 2, 8, 8]], [0, 1], ("cat", "dog")),
            ),
            Item(a_files[1], "y.png", (30, 20), labelled_boxes([[3, 3, 9, 9]], [1], ("cat", "dog"))),
        ),
    )
    b_names = ("bird", "dog", "kitty")
    b = Dataset(
        b_names,
        (
            Item(
                b_files[0], "x.png", (30, 20), labelled_boxes([[1, 2, 3, 4], [5, 5, 9, 9]], [0, 2], b_names)
            ),
            Item(b_files[1], "z.png", (30, 20), labelled_boxes([[4, 4, 8, 8]], [1], b_names)),
        ),
    )
    merged, renamed = merge_datasets([a, b], {"kitty": "cat"})
    assert merged.names == ("cat", "dog", "bird")
    assert renamed == 1
    by_name = {i.name: i for i in merged.items}
    assert sorted(by_name) == ["x.png", "x__2.png", "y.png", "z.png"]
    assert by_name["x__2.png"].image == b_files[0]
    det = by_name["x__2.png"].detections
    assert det is not None and det.class_id.tolist() == [2, 0] and det.names == merged.names
    z = by_name["z.png"].detections
    assert z is not None and z.class_id.tolist() == [1]

    # Through the CLI, on disk, in two formats: the same result.
    save_dataset(a, tmp_path / "a", "yolo")
    save_dataset(b, tmp_path / "b", "coco")
    result = run_cli(
        "dataset",
        "merge",
        str(tmp_path / "a"),
        str(tmp_path / "b"),
        "--out",
        str(tmp_path / "m"),
        "--map",
        "kitty=cat",
    )
    assert result.returncode == 0, result.stderr
    assert "renamed 1 clashing image names" in result.stderr
    assert load_dataset(tmp_path / "m").same_as(merged)
    assert (tmp_path / "m" / "images" / "x__2.png").read_bytes() == b_files[0].read_bytes()
    typo = run_cli(
        "dataset", "merge", str(tmp_path / "a"), "--out", str(tmp_path / "m2"), "--map", "kity=cat"
    )
    assert typo.returncode == 1 and "kity, in no dataset" in typo.stderr


def test_split_cli_writes_loadable_parts(tmp_path: Path) -> None:
    from edgeloop.data.synth import synth_detection

    synth_detection(tmp_path / "s", images=20, size=64, seed=2)
    result = run_cli(
        "dataset", "split", str(tmp_path / "s"), str(tmp_path / "out"), "--val", "0.25", "--to", "coco"
    )
    assert result.returncode == 0, result.stderr
    parts = {name: load_dataset(tmp_path / "out" / name) for name in ("train", "val")}
    assert (len(parts["train"]), len(parts["val"])) == (15, 5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train", "val"]
    assert all((tmp_path / "out" / n / "annotations.json").is_file() for n in parts)
    source = {i.name for i in load_dataset(tmp_path / "s").items}
    assert {i.name for p in parts.values() for i in p.items} == source
