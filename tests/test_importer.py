from pathlib import Path

import pytest

from edgeloop.errors import BundleError, ModelImportError
from edgeloop.importer import ImportOptions, import_onnx, infer_family, parse_imgsz, parse_names
from edgeloop.testing.onnx_models import colour_detector, random_yolo
from edgeloop.types import TensorSpec


@pytest.mark.parametrize("family", ["yolo", "yolov5", "yolo-e2e", "classify"])
def test_family_names_and_size_from_metadata(tmp_path: Path, family: str) -> None:
    model = colour_detector(tmp_path / "m.onnx", imgsz=(320, 480), stride=32, family=family)
    m = import_onnx(model, tmp_path / "b").manifest
    assert m.family == family
    assert m.names == ["red", "green", "blue"]
    assert m.input.size_hw == (320, 480)
    assert m.input.resize == ("stretch" if family == "classify" else "letterbox")
    assert m.provenance.source == "m.onnx"


@pytest.mark.parametrize("family", ["yolo", "yolov5", "yolo-e2e", "classify"])
def test_family_from_shapes_alone(tmp_path: Path, family: str) -> None:
    model = colour_detector(tmp_path / "m.onnx", family=family, metadata=False)
    with pytest.raises(ModelImportError, match="pass --names"):
        import_onnx(model, tmp_path / "b")
    m = import_onnx(model, tmp_path / "b2", ImportOptions(names=["r", "g", "b"])).manifest
    assert m.family == family


def test_wrong_number_of_names(tmp_path: Path) -> None:
    model = colour_detector(tmp_path / "m.onnx", metadata=False)
    with pytest.raises(ModelImportError, match="2 class names given but .* has 3 classes"):
        import_onnx(model, tmp_path / "b", ImportOptions(names=["a", "b"]))


def test_flags_override_metadata(tmp_path: Path) -> None:
    model = colour_detector(tmp_path / "m.onnx")
    opts = ImportOptions(names=["x", "y", "z"], name="custom", color="BGR", conf=0.4)
    m = import_onnx(model, tmp_path / "b", opts).manifest
    assert (m.names, m.name, m.input.color, m.conf) == (["x", "y", "z"], "custom", "BGR", 0.4)


def test_refuses_non_empty_out_without_force(tmp_path: Path) -> None:
    model = colour_detector(tmp_path / "m.onnx")
    import_onnx(model, tmp_path / "b")
    with pytest.raises(BundleError, match="--force"):
        import_onnx(model, tmp_path / "b")
    import_onnx(model, tmp_path / "b", ImportOptions(force=True))


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="no such file"):
        import_onnx(tmp_path / "nope.onnx", tmp_path / "b")


def test_ambiguous_shapes_ask_for_family() -> None:
    out = TensorSpec("o", (1, 1000, 90))
    with pytest.raises(ModelImportError, match="pass --family yolo"):
        infer_family(out, None, None, None, (640, 640))
    assert infer_family(TensorSpec("o", (1, 25200, 85)), None, None, None, (640, 640)) == "yolov5"
    assert infer_family(TensorSpec("o", (1, 8400, 84)), None, None, None, (640, 640)) == "yolo"
    assert infer_family(TensorSpec("o", (1, 84, 8400)), None, None, None, (640, 640)) == "yolo"
    assert infer_family(TensorSpec("o", (1, 300, 6)), None, None, None, (640, 640)) == "yolo-e2e"
    assert infer_family(TensorSpec("o", (1, 1000)), None, None, None, (224, 224)) == "classify"


def test_random_yolo_imports_with_80_classes(tmp_path: Path) -> None:
    model = random_yolo(tmp_path / "r.onnx", imgsz=320, num_classes=80)
    m = import_onnx(model, tmp_path / "b").manifest
    assert m.family == "yolo" and len(m.names) == 80 and m.input.size_hw == (320, 320)


def test_parse_helpers(tmp_path: Path) -> None:
    assert parse_imgsz("640") == (640, 640)
    assert parse_imgsz("480,640") == (480, 640)
    with pytest.raises(ModelImportError, match="--imgsz"):
        parse_imgsz("big")
    assert parse_names("a, b ,c") == ["a", "b", "c"]
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n\n")
    assert parse_names(str(names)) == ["cat", "dog"]
    with pytest.raises(ModelImportError, match="empty"):
        parse_names(" , ")
