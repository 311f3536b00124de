from pathlib import Path

import numpy as np
import pytest

from edgeloop.errors import BundleError, EdgeloopError, ModelImportError, NoDecoderError
from edgeloop.importer import ImportOptions, import_onnx, parse_imgsz, parse_names
from edgeloop.postprocess.families import Hints, recognise
from edgeloop.predictor import Predictor
from edgeloop.stream.pipeline import Pipeline
from edgeloop.testing.family_models import embedder, export_layout_detector, text_detector
from edgeloop.testing.onnx_models import colour_detector, random_yolo
from edgeloop.types import ModelSpec, TensorSpec


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


def family_of(shape: tuple[int | str | None, ...], imgsz_hw: tuple[int, int] = (640, 640)) -> str:
    images = TensorSpec("images", (1, 3, *imgsz_hw))
    return recognise(ModelSpec((images,), (TensorSpec("o", shape),)), Hints(imgsz_hw=imgsz_hw)).family


def test_other_ultralytics_tasks_are_not_decoded_as_detections() -> None:
    images = TensorSpec("images", (1, 3, 640, 640))
    segment = ModelSpec(
        (images,), (TensorSpec("output0", (1, 116, 8400)), TensorSpec("output1", (1, 32, 160, 160)))
    )
    with pytest.raises(
        ModelImportError, match="task 'segment', which no output family decodes: pass --family raw"
    ):
        recognise(segment, Hints(task="segment", num_names=80, imgsz_hw=(640, 640)))
    assert recognise(segment, Hints(task="detect", num_names=80, imgsz_hw=(640, 640))).family == "yolo"


def test_ambiguous_shapes_ask_for_family() -> None:
    with pytest.raises(ModelImportError, match="--family yolo.*or --family raw"):
        family_of((1, 1000, 90))
    assert family_of((1, 25200, 85)) == "yolov5"
    assert family_of((1, 8400, 84)) == "yolo"
    assert family_of((1, 84, 8400)) == "yolo"
    assert family_of((1, 300, 6)) == "yolo-e2e"
    assert family_of((1, 1000), (224, 224)) == "classify"


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


def test_imports_edgeloop_export_layout(tmp_path: Path) -> None:
    """`edgeloop export` leaves the class axis symbolic: ['batch', 'Transposeoutput0_dim_1', 1029]."""
    model = export_layout_detector(tmp_path / "model.onnx", imgsz=224, names=("cat", "dog", "bird"))
    m = import_onnx(model, tmp_path / "b").manifest
    assert (m.family, m.task, m.names, m.input.size_hw) == (
        "yolo",
        "detect",
        ["cat", "dog", "bird"],
        (224, 224),
    )
    with Predictor(tmp_path / "b") as predictor:  # the bundle runs: decoder and input check accept it
        predictor.predict(np.full((100, 150, 3), 128, np.uint8))


def test_export_layout_refuses_a_wrong_class_count(tmp_path: Path) -> None:
    model = export_layout_detector(tmp_path / "model.onnx", imgsz=224, names=("cat", "dog", "bird"))
    with pytest.raises(ModelImportError, match="2 class names given but .* has 3 classes"):
        import_onnx(model, tmp_path / "b", ImportOptions(names=["x", "y"], family="yolo"))


def test_non_yolo_model_asks_for_family_raw(tmp_path: Path) -> None:
    model = text_detector(tmp_path / "det.onnx")
    with pytest.raises(ModelImportError, match="--family raw"):
        import_onnx(model, tmp_path / "b")


def test_raw_bundle_runs_tensors_of_any_size(tmp_path: Path) -> None:
    model = text_detector(tmp_path / "det.onnx")
    m = import_onnx(model, tmp_path / "b", ImportOptions(family="raw")).manifest
    assert (m.family, m.task, m.names, m.input.name) == ("raw", "raw", [], "x")
    tensor = np.random.default_rng(0).random((1, 3, 40, 56), np.float32)
    with Predictor(tmp_path / "b") as predictor:
        (out,) = predictor.infer(tensor)
        assert out.shape == (1, 1, 40, 56)
        with pytest.raises(NoDecoderError, match=r"no decoder.*/v2/models/det/infer.*Predictor\.infer"):
            predictor.predict(np.full((40, 56, 3), 128, np.uint8))
        with pytest.raises(EdgeloopError, match=r"needs a detection bundle; this one is a raw bundle"):
            Pipeline(predictor, [], [])  # edgeloop run


def test_raw_bundle_of_a_model_without_image_input(tmp_path: Path) -> None:
    model = embedder(tmp_path / "emb.onnx")
    with pytest.raises(ModelImportError, match=r"no output family edgeloop decodes fits .*--family raw"):
        import_onnx(model, tmp_path / "b", ImportOptions(names=[str(i) for i in range(8)]))
    with pytest.raises(ModelImportError, match=r"needs an image input .*--family raw"):
        import_onnx(model, tmp_path / "b", ImportOptions(names=[str(i) for i in range(8)], family="classify"))
    import_onnx(model, tmp_path / "b", ImportOptions(family="raw"))
    with Predictor(tmp_path / "b") as predictor:
        (out,) = predictor.infer(np.ones((2, 16), np.float32))
    assert out.shape == (2, 8)


def test_a_tie_between_families_asks_which() -> None:
    images = TensorSpec("images", (1, 3, 64, 64))
    spec = ModelSpec((images,), (TensorSpec("o", (1, 7, 8)),))  # 4 + 3 channels, or rows of 5 + 3
    with pytest.raises(
        ModelImportError, match=r"fits more than one family: yolo .*; yolov5 .*--family yolo\|yolov5"
    ):
        recognise(spec, Hints(num_names=3, imgsz_hw=(64, 64)))
