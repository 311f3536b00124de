"""`edgeloop eval` scores the validation split of a dataset with splits, and says which split it scored."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from edgeloop.bundle import Bundle
from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import save_dataset
from edgeloop.data.splits import available_splits, load_split
from tests.conftest import run_cli
from tests.evaluate.conftest import EXPECTED_MAP50, colour_dataset


def _parts(root: Path) -> tuple[Dataset, Dataset]:
    """train: the red image (found exactly); val: green (one of two found), blue (shifted), empty."""
    ds = colour_dataset(root)
    return replace(ds, items=ds.items[:1]), replace(ds, items=ds.items[1:])


@pytest.fixture(scope="module")
def ultralytics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One YOLO dataset: images/train, images/val, and a data.yaml pointing at each."""
    root = tmp_path_factory.mktemp("ultra")
    train, val = _parts(root)
    items = [replace(i, name=f"train/{i.name}") for i in train.items]
    items += [replace(i, name=f"val/{i.name}") for i in val.items]
    save_dataset(replace(train, items=tuple(items)), root / "yolo", "yolo")
    config = {"path": ".", "train": "images/train", "val": "images/val", "names": list(train.names)}
    (root / "yolo" / "data.yaml").write_text(yaml.safe_dump(config))
    return root / "yolo"


@pytest.fixture(scope="module")
def sub_datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA/train and DATA/val, as `edgeloop dataset split` writes them."""
    root = tmp_path_factory.mktemp("subs")
    train, val = _parts(root)
    save_dataset(train, root / "data" / "train", "yolo")
    save_dataset(val, root / "data" / "val", "yolo")
    return root / "data"


def _eval(bundle: Bundle, data: Path, *args: str) -> tuple[dict[str, object], str]:
    result = run_cli("eval", str(bundle.root), str(data), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("layout", ["ultralytics", "sub_datasets"])
def test_eval_scores_the_val_split_by_default(
    yolo_bundle: Bundle, layout: str, request: pytest.FixtureRequest
) -> None:
    data = request.getfixturevalue(layout)
    report, stderr = _eval(yolo_bundle, data)
    assert (report["split"], report["images"]) == ("val", 3)
    assert "split val" in stderr
    train, _ = _eval(yolo_bundle, data, "--split", "train")
    assert (train["split"], train["images"], train["map50"]) == ("train", 1, 1.0)
    everything, stderr = _eval(yolo_bundle, data, "--split", "all")
    assert (everything["split"], everything["images"]) == ("all", 4)
    assert everything["map50"] == pytest.approx(EXPECTED_MAP50, abs=1e-5)
    assert "all splits" in stderr


def test_a_dataset_without_splits_is_scored_whole(yolo_bundle: Bundle, colour_yolo: Path) -> None:
    report, stderr = _eval(yolo_bundle, colour_yolo)
    assert (report["split"], report["images"]) == ("all", 4)
    assert "no train/val splits" in stderr


def test_a_missing_split_is_one_line_naming_the_splits(yolo_bundle: Bundle, ultralytics: Path) -> None:
    result = run_cli("eval", str(yolo_bundle.root), str(ultralytics), "--split", "test")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has no test split (it has train, val)" in result.stderr


def test_edgeloop_s_own_yolo_layout_has_no_splits(colour_yolo: Path, ultralytics: Path) -> None:
    # edgeloop writes `train: images` and `val: images`: one set, not two.
    assert available_splits(colour_yolo) == ()
    assert available_splits(ultralytics) == ("train", "val")
    assert [i.name for i in load_split(ultralytics, "train").dataset.items] == ["train/im0.png"]


def test_without_a_val_split_the_test_split_is_scored(tmp_path: Path) -> None:
    train, val = _parts(tmp_path)
    save_dataset(train, tmp_path / "data" / "train", "yolo")
    save_dataset(val, tmp_path / "data" / "test", "yolo")
    chosen = load_split(tmp_path / "data")
    assert (chosen.split, chosen.available, len(chosen.dataset)) == ("test", ("train", "test"), 3)
