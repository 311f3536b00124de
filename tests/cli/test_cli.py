"""The real `edgeloop` command in a subprocess: what users see."""

import io
import json
import os
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.testing.onnx_models import colour_detector
from tests.conftest import run_cli, scene_640x480
from tests.test_imaging import png_declaring


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene_640x480())
    cv2.imwrite(str(folder / "b.jpg"), cv2.resize(scene_640x480(), (320, 240)))
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    return folder


def test_import_then_predict_json(tmp_path: Path, images: Path) -> None:
    model = colour_detector(tmp_path / "m.onnx")
    imported = run_cli("import", str(model), "--out", str(tmp_path / "b"))
    assert imported.returncode == 0, imported.stderr
    assert "family yolo, 3 classes, input 640x640" in imported.stderr
    result = run_cli("predict", str(tmp_path / "b"), str(images), "--json", "--conf", "0.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, "one JSON line per image and nothing else on stdout"
    records = [json.loads(line) for line in lines]
    assert [Path(r["source"]).name for r in records] == ["a.png", "b.jpg"]
    first = records[0]
    assert first["image"] == {"width": 640, "height": 480}
    assert {p["class"] for p in first["predictions"]} == {"red", "green"}
    red, green = first["predictions"]
    assert (red["class"], red["x"], red["y"], red["width"], red["height"]) == ("red", 128, 112, 128, 128)
    assert (green["class"], green["x"], green["y"], green["width"], green["height"]) == (
        "green",
        416,
        288,
        128,
        96,
    )
    assert {"x", "y", "width", "height", "confidence", "class", "class_id"} <= set(first["predictions"][0])


def test_predict_glob_out_and_options(yolo_bundle: Bundle, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated"
    result = run_cli(
        "predict",
        str(yolo_bundle.root),
        str(images / "*.png"),
        "--out",
        str(out),
        "--classes",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert {p["class"] for p in record["predictions"]} == {"green"}
    annotated = cv2.imread(str(out / "a.png"))
    assert annotated.shape == (480, 640, 3)
    assert not np.array_equal(annotated, scene_640x480())


def test_predict_max_det_and_human_output(yolo_bundle: Bundle, images: Path) -> None:
    result = run_cli("predict", str(yolo_bundle.root), str(images / "a.png"), "--max-det", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "a.png: 1 detection" in result.stderr


def hostile_files(tmp_path: Path) -> dict[str, Path]:
    _, jpeg = cv2.imencode(".jpg", (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8))
    files = {
        "zero": (tmp_path / "zero.jpg", b""),
        "truncated": (tmp_path / "truncated.jpg", jpeg.tobytes()[:5000]),
        "bomb": (tmp_path / "bomb.png", png_declaring(50_000, 50_000)),
        "text": (tmp_path / "text.jpg", b"just some text\n"),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {k: v[0] for k, v in files.items()}


@pytest.mark.parametrize(
    "kind,message",
    [
        ("zero", "empty image"),
        ("truncated", "truncated JPEG"),
        ("bomb", "50000x50000"),
        ("text", "not a supported image"),
    ],
)
def test_hostile_images_give_one_error_line(
    yolo_bundle: Bundle, tmp_path: Path, kind: str, message: str
) -> None:
    path = hostile_files(tmp_path)[kind]
    result = run_cli("predict", str(yolo_bundle.root), str(path), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr


def test_bad_images_do_not_stop_the_rest(yolo_bundle: Bundle, tmp_path: Path, images: Path) -> None:
    hostile_files(images)
    result = run_cli("predict", str(yolo_bundle.root), str(images), "--json")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2  # a.png, b.jpg still processed
    assert result.stderr.count("error:") == 4
    assert "2 of 6 images done, 4 failed" in result.stderr


def test_sha_mismatch_bundle(yolo_bundle: Bundle, tmp_path: Path, images: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(yolo_bundle.root, bad)
    with open(bad / "model.onnx", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff")
    result = run_cli("predict", str(bad), str(images / "a.png"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sha256 mismatch" in lines[0]


def test_traversal_tar(tmp_path: Path, images: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    for args in (
        ["predict", str(archive), str(images / "a.png")],
        ["bundle", "unpack", str(archive), str(tmp_path / "out")],
    ):
        result = run_cli(*args)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "'..' would escape" in lines[0]
    assert not (tmp_path / "escaped.txt").exists()


def test_missing_source_and_missing_flag(yolo_bundle: Bundle, tmp_path: Path) -> None:
    result = run_cli("predict", str(yolo_bundle.root), str(tmp_path / "nothing.jpg"))
    assert result.returncode == 1 and "no such file, folder or glob match" in result.stderr
    model = colour_detector(tmp_path / "m.onnx", metadata=False)
    result = run_cli("import", str(model), "--out", str(tmp_path / "b"))
    assert result.returncode == 1 and "pass --names" in result.stderr


def test_bundle_commands(yolo_bundle: Bundle, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    assert run_cli("bundle", "pack", str(yolo_bundle.root), str(archive)).returncode == 0
    assert run_cli("bundle", "verify", str(archive)).returncode == 0
    unpacked = run_cli("bundle", "unpack", str(archive), str(tmp_path / "u"))
    assert unpacked.returncode == 0, unpacked.stderr
    info = run_cli("bundle", "info", str(tmp_path / "u"))
    assert json.loads(info.stdout)["family"] == "yolo"


def test_json_stays_on_stdout_while_a_progress_bar_draws(
    tmp_path: Path, images: Path, yolo_bundle: Bundle
) -> None:
    """On a terminal the bar draws on stderr; rich must not capture the JSON lines into it."""
    import subprocess
    import sys

    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "200"}  # rich then treats stderr as a terminal
    result = subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", "predict", str(yolo_bundle.root), str(images), "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "predict" in result.stderr, "the bar was drawn"
    sources = [Path(json.loads(line)["source"]).name for line in result.stdout.splitlines()]
    assert sources == ["a.png", "b.jpg"]


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("edgeloop ")


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    """A shortened first round: synth, train, export, eval and predict run and leave their files
    (the field round: tests/test_demo_loop.py)."""
    pytest.importorskip("torch")
    result = run_cli(
        "demo",
        "--out",
        str(tmp_path / "demo"),
        "--time",
        "6",
        "--train-images",
        "24",
        "--val-images",
        "8",
        "--imgsz",
        "96",
        "--no-field",
    )
    assert result.returncode == 0, result.stderr
    assert "mAP50-95" in result.stderr and "FPS" in result.stderr
    lines = (tmp_path / "demo" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 8 and all("predictions" in json.loads(line) for line in lines)
    assert len(list((tmp_path / "demo" / "annotated").iterdir())) == 8
    assert (tmp_path / "demo" / "bundle" / "bundle.json").is_file()


def test_max_pixels_flag(yolo_bundle: Bundle, images: Path) -> None:
    result = run_cli("predict", str(yolo_bundle.root), str(images / "a.png"), "--max-pixels", "1000")
    assert result.returncode == 1 and "exceeds" in result.stderr


def test_predict_classes_by_name_and_checked_ids(yolo_bundle: Bundle, images: Path) -> None:
    """`--classes` takes names and ids; an unknown name or an id the model lacks is one clear error."""
    image = str(images / "a.png")
    result = run_cli("predict", str(yolo_bundle.root), image, "--classes", "green", "--json")
    assert result.returncode == 0, result.stderr
    assert {p["class"] for p in json.loads(result.stdout)["predictions"]} == {"green"}
    result = run_cli("predict", str(yolo_bundle.root), image, "--classes", "red,1", "--json")
    assert {p["class"] for p in json.loads(result.stdout)["predictions"]} == {"red", "green"}
    for spec, message in [
        (
            "circle",
            "error: --classes: unknown class 'circle'; this model's classes are 0 red, 1 green, 2 blue",
        ),
        ("7", "error: --classes: class id 7 is out of range: this model has 3 classes (ids 0..2)"),
    ]:
        result = run_cli("predict", str(yolo_bundle.root), image, "--classes", spec)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
