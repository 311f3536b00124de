"""`dataset check` finds every seeded defect in one pass; `--fix` writes a copy that checks clean."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.data import Dataset, Item
from edgeloop.data.check import check_dataset, clean_boxes, fix_dataset
from edgeloop.data.dataset import labelled_boxes
from edgeloop.data.formats import load_dataset, save_dataset
from edgeloop.errors import DatasetError
from tests.conftest import run_cli

W, H = 64, 48
NAMES = ["cat", "dog", "bird"]  # bird has no instances: an empty-class warning
# Many cats, one dog: above the default 10:1 imbalance threshold, before and after --fix.
GOOD = [f"0 0.{i + 1}5 0.5 0.1 0.1" for i in range(9)] + ["0 0.5 0.2 0.1 0.1", "1 0.5 0.5 0.2 0.2"]


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        digest.update(p.relative_to(root).as_posix().encode())
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((H, W, 3), value, np.uint8))


def make_yolo(root: Path) -> dict[str, int]:
    """A YOLO set with each defect kind seeded; returns the counts check must report."""
    labels = {
        "a": GOOD[:4],
        "b": [*GOOD[4:], "0 0.5 oops", "7 0.5 0.5 0.1 0.1"],  # bad line, unknown class
        "c": ["0 0.98 0.5 0.1 0.1", "0 1.2 0.5 0.2 0.2"],  # slightly out (clip), far out (drop)
        "d": ["0 0.5 0.5 0 0.1", "0 nan 0.5 0.1 0.1", "0 0.2 0.2 0.1 0.1"],  # zero area, NaN, good
        "e": [],
    }
    for value, (stem, lines) in enumerate(labels.items()):
        _png(root / "images" / f"{stem}.png", 20 * value)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
    shutil.copyfile(root / "images" / "a.png", root / "images" / "z_copy.png")  # duplicate, no labels
    (root / "images" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # no image
    (root / "data.yaml").write_text(f"names: {NAMES}\n")
    return {
        "unreadable_image": 1,
        "orphan_label": 1,
        "bad_label": 1,
        "unknown_class": 1,
        "out_of_bounds": 2,
        "zero_area": 1,
        "nan_box": 1,
        "duplicate_image": 1,
        "empty_class": 1,
        "class_imbalance": 1,
    }


def make_coco(root: Path) -> dict[str, int]:
    """The same defects in COCO form, plus an image named in the JSON but missing on disk."""
    files = ["a.png", "b.png", "c.png", "d.png", "z_copy.png", "broken.png", "missing.png", "e.png"]
    for value, name in enumerate([*files[:4], "e.png"]):
        _png(root / "images" / name, 20 * value)
    shutil.copyfile(root / "images" / "a.png", root / "images" / "z_copy.png")
    (root / "images" / "broken.png").write_bytes(b"\xff\xd8 not a jpeg")
    images = [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(files)]
    images[-1].update(width=2 * W, height=2 * H)  # e.png: the JSON has the size wrong
    images.append({"id": 50, "file_name": "a.png", "width": W, "height": H})  # a.png listed twice
    boxes: list[tuple[int, int, list[float]]] = [(1, 1, [2.0 + 6 * i, 10, 6, 5]) for i in range(10)]
    boxes += [
        (2, 2, [20, 10, 12, 9]),  # the one dog
        (2, 42, [1, 1, 5, 5]),  # unknown category
        (3, 1, [60, 20, 6, 5]),  # 2 px out on the right: clipped
        (3, 1, [70, 20, 6, 5]),  # outside: dropped
        (4, 1, [10, 10, 0, 5]),  # zero width
        (4, 1, [float("nan"), 10, 5, 5]),
        (999, 1, [1, 1, 5, 5]),  # image 999 does not exist
    ]
    anns = [{"id": i + 1, "image_id": im, "category_id": c, "bbox": b} for i, (im, c, b) in enumerate(boxes)]
    anns.append({"id": 99, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]})  # malformed bbox
    anns.append({"id": 100, "image_id": 8, "category_id": 1, "bbox": [30, 30, 10, 10]})  # e.png, in bounds
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]
    doc = {"images": images, "annotations": anns, "categories": categories}
    (root / "annotations.json").write_text(json.dumps(doc))
    return {
        "missing_image": 1,
        "unreadable_image": 1,
        "orphan_label": 1,
        "bad_label": 2,
        "size_mismatch": 1,
        "unknown_class": 1,
        "out_of_bounds": 2,
        "zero_area": 1,
        "nan_box": 1,
        "duplicate_image": 1,
        "empty_class": 1,
        "class_imbalance": 1,
    }


@pytest.mark.parametrize("fmt", ["yolo", "coco"])
def test_check_reports_every_seeded_defect_then_fix_checks_clean(fmt: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = make_yolo(src) if fmt == "yolo" else make_coco(src)
    before = tree_hash(src)
    with pytest.raises(DatasetError):
        load_dataset(src)  # the normal load stays strict
    report = check_dataset(src)
    assert report.format == fmt
    assert {f.kind: f.count for f in report.findings} == expected
    assert not report.clean and report.errors == sum(
        n for k, n in expected.items() if k not in ("empty_class", "class_imbalance")
    )
    where = {f.kind: f.examples for f in report.findings}
    if fmt == "yolo":
        assert where["bad_label"] == ("labels/b.txt:8",)
        assert where["unknown_class"] == ("labels/b.txt:9",)
        assert where["out_of_bounds"] == ("labels/c.txt:1", "labels/c.txt:2")
        assert where["nan_box"] == ("labels/d.txt:2",)
        assert where["orphan_label"] == ("labels/ghost.txt",)
    else:
        assert where["unknown_class"] == ("annotations.json: annotation 12",)
        assert where["out_of_bounds"] == (
            "annotations.json: annotation 13",
            "annotations.json: annotation 14",
        )
        assert where["missing_image"] == ("images/missing.png",)
        assert where["size_mismatch"] == ("e.png: labels say 128x96, the image is 64x48",)
    assert where["duplicate_image"] == ("z_copy.png = a.png",)
    assert where["empty_class"] == ("bird",)

    out = tmp_path / "fixed"
    _, changes = fix_dataset(src, out)
    dropped = 2 if fmt == "yolo" else 3  # COCO also names an image that is not on disk
    labels = 3 if fmt == "yolo" else 4
    assert changes == {
        "images_dropped": dropped,
        "labels_dropped": labels,
        "boxes_clipped": 1,
        "boxes_dropped": 3,
    }
    fixed = check_dataset(out)
    assert fixed.clean, fixed.findings
    assert fixed.format == fmt
    assert {f.kind for f in fixed.findings} == {"empty_class", "class_imbalance"}
    ds = load_dataset(out)  # the strict load accepts the cleaned copy
    assert sorted(i.name for i in ds.items) == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    assert {i.size_wh for i in ds.items} == {(W, H)}  # COCO's wrong size for e.png is corrected
    c = next(i for i in ds.items if i.name == "c.png").detections
    assert c is not None and len(c) == 1 and float(c.xyxy[0, 2]) == pytest.approx(W, abs=1e-3)
    assert tree_hash(src) == before, "check --fix must never modify the source"


def test_cli_exit_codes_json_and_fix(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_yolo(src)
    before = tree_hash(src)
    result = run_cli("dataset", "check", str(src), "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["clean"] is False and doc["errors"] == 9 and doc["class_counts"]["cat"] == 15
    text = run_cli("dataset", "check", str(src))
    assert text.returncode == 1 and "error   out_of_bounds         2" in text.stdout
    fixed = run_cli("dataset", "check", str(src), "--fix", str(tmp_path / "out"))
    assert fixed.returncode == 1 and "it checks clean" in fixed.stderr, fixed.stderr
    again = run_cli("dataset", "check", str(tmp_path / "out"))
    assert again.returncode == 0 and again.stdout.strip().endswith("clean (2 warnings)"), again.stdout
    assert tree_hash(src) == before
    inside = run_cli("dataset", "check", str(src), "--fix", str(src / "clean"))
    assert inside.returncode == 1 and "outside the source folder" in inside.stderr
    assert tree_hash(src) == before


def test_clean_boxes_clips_slightly_out_and_drops_far_out() -> None:
    det = labelled_boxes(
        [[-2, 0, 20, 10], [50, 0, 90, 10], [0, 0, 0, 5], [1, 1, 5, 5]], [0, 0, 0, 1], ["a", "b"]
    )
    fixed, clipped, dropped = clean_boxes(det, (64, 48))
    assert (clipped, dropped) == (1, 2)
    np.testing.assert_allclose(fixed.xyxy, [[0, 0, 20, 10], [1, 1, 5, 5]])
    assert fixed.class_id.tolist() == [0, 1]


def test_voc_and_folders_defects_in_one_pass(tmp_path: Path) -> None:
    names = ("cat", "dog")
    items = []
    for value, stem in enumerate("abcd"):
        _png(tmp_path / "raw" / f"{stem}.png", 30 * value)
        box = labelled_boxes([[1, 1, 20, 20]], [value % 2], names)
        items.append(Item(tmp_path / "raw" / f"{stem}.png", f"{stem}.png", (W, H), box))
    save_dataset(Dataset(names, tuple(items)), tmp_path / "voc", "voc")
    (tmp_path / "voc" / "JPEGImages" / "a.png").unlink()  # missing image
    (tmp_path / "voc" / "Annotations" / "b.xml").write_text("<annotation><oops></annotation>")  # bad XML
    xml = tmp_path / "voc" / "Annotations" / "c.xml"
    xml.write_text(xml.read_text().replace("<bndbox>", "<nobox>").replace("</bndbox>", "</nobox>"))
    report = check_dataset(tmp_path / "voc")
    assert {f.kind: f.count for f in report.findings if f.severity == "error"} == {
        "missing_image": 1,
        "bad_label": 2,
    }
    fix_dataset(tmp_path / "voc", tmp_path / "voc-fixed")
    assert check_dataset(tmp_path / "voc-fixed").clean

    for label in ("cat", "dog"):
        for i in range(2):
            _png(tmp_path / "cls" / label / f"{i}.png", 100 * i + (label == "dog"))
    (tmp_path / "cls" / "dog" / "junk.png").write_bytes(b"junk")
    folders = check_dataset(tmp_path / "cls")
    assert {f.kind: f.count for f in folders.findings} == {"unreadable_image": 1}


def test_dataset_tools_work_without_torch(tmp_path: Path) -> None:
    from tests.test_torch_blocked import run_blocked

    make_yolo(tmp_path / "src")
    code = f"""
from pathlib import Path
from edgeloop.data.check import check_dataset, fix_dataset
from edgeloop.data.split import merge_folders, split_folder
from edgeloop.data.stats import dataset_stats, plot_stats
from edgeloop.data.unpack import import_archive
import edgeloop.archive
root = Path({str(tmp_path)!r})
report, _ = fix_dataset(root / "src", root / "fixed")
plot_stats(dataset_stats(root / "fixed"), root / "s.png")
split_folder(root / "fixed", root / "split", 0.5)
print(report.errors, check_dataset(root / "fixed").errors)
assert "torch" not in sys.modules
"""
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["9", "0"]
