"""NN Archive packing: our config.json, read back by us and by depthai's own parser (no device)."""

from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends.depthai import open_archive
from edgeloop.backends.depthai_io import model_spec
from edgeloop.bundle import Bundle, load_bundle
from edgeloop.errors import BackendError, BundleError, ConfigError
from edgeloop.export.nn_archive import (
    archive_config,
    pack_nn_archive,
    pixel_normalization,
    read_archive_config,
)
from edgeloop.preprocess import InputSpec
from edgeloop.testing.components import need
from edgeloop.testing.darknet_models import ANCHORS_TINY, darknet_bundle


def _depthai():  # type: ignore[no-untyped-def]
    need(importlib.util.find_spec("depthai") is not None, "depthai")
    import depthai

    return depthai


# The NN Archive config format 1.0 (depthai.nn_archive.v1): the keys we write, per level.
MODEL_KEYS = {"metadata", "inputs", "outputs", "heads"}
METADATA_KEYS = {"name", "path", "precision"}
INPUT_KEYS = {"name", "dtype", "input_type", "shape", "layout", "preprocessing"}
PREPROCESSING_KEYS = {"mean", "scale", "reverse_channels", "interleaved_to_planar", "dai_type"}
OUTPUT_KEYS = {"name", "dtype", "shape", "layout"}
DTYPES = {"float16", "float32", "uint8"}


def _dlc(tmp_path: Path) -> Path:
    """An RVC4 model file: depthai keeps a .dlc's bytes without parsing them (no SNPE here)."""
    path = tmp_path / "model.dlc"
    path.write_bytes(b"not a real dlc")
    return path


def test_config_has_the_spec_fields(yolo_bundle: Bundle) -> None:
    config = archive_config(yolo_bundle, "model.blob")
    assert config["config_version"] == "1.0"
    model = config["model"]
    assert set(model) == MODEL_KEYS
    assert set(model["metadata"]) == METADATA_KEYS and model["metadata"]["path"] == "model.blob"
    (first,) = model["inputs"]
    assert set(first) == INPUT_KEYS and first["input_type"] == "image" and first["dtype"] == "uint8"
    assert first["shape"] == [1, 3, 640, 640] and first["layout"] == "NCHW"
    assert set(first["preprocessing"]) == PREPROCESSING_KEYS
    pre = first["preprocessing"]
    assert pre["dai_type"] == "RGB888p" and pre["reverse_channels"] is True
    assert first["preprocessing"]["mean"] == [0, 0, 0]
    assert first["preprocessing"]["scale"] == pytest.approx([255, 255, 255])
    (out,) = model["outputs"]
    assert set(out) == OUTPUT_KEYS and out["dtype"] in DTYPES and out["shape"] == [1, 7, 400]
    (head,) = model["heads"]
    assert head["parser"] == "YOLO" and head["metadata"]["classes"] == list(yolo_bundle.manifest.names)
    assert head["metadata"]["n_classes"] == len(yolo_bundle.manifest.names)
    assert head["metadata"]["conf_threshold"] == yolo_bundle.manifest.conf
    assert archive_config(yolo_bundle, "model.onnx")["model"]["inputs"][0]["dtype"] == "float32"
    with pytest.raises(BundleError, match=r"\.blob \(RVC2\), \.dlc \(RVC4\) or \.onnx"):
        archive_config(yolo_bundle, "model.tflite")


def test_normalization_matches_the_bundle_preprocessing() -> None:
    spec = InputSpec(scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    mean, scale = pixel_normalization(spec)
    pixels = np.array([0.0, 77.0, 255.0], np.float32)
    for c in range(3):
        ours = (pixels - mean[c]) / scale[c]
        bundle = (pixels * spec.scale - spec.mean[c]) / spec.std[c]  # type: ignore[index]
        np.testing.assert_allclose(ours, bundle, rtol=1e-5, atol=1e-5)


def test_pack_and_reopen(yolo_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack_nn_archive(yolo_bundle, _dlc(tmp_path), tmp_path / "model.rvc4.tar.xz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["config.json", "model.dlc"]
        stored = json.loads(tar.extractfile("config.json").read())  # type: ignore[union-attr]
    assert stored == read_archive_config(archive) == archive_config(yolo_bundle, "model.dlc")
    spec = model_spec(stored)
    assert [o.name for o in spec.outputs] == ["output0"] and spec.outputs[0].shape == (1, 7, 400)
    assert spec.inputs[0].name == yolo_bundle.manifest.input.name


def test_a_symlinked_model_is_stored_as_its_bytes(yolo_bundle: Bundle, tmp_path: Path) -> None:
    link = tmp_path / "link.dlc"
    link.symlink_to(_dlc(tmp_path))
    archive = pack_nn_archive(yolo_bundle, link, tmp_path / "model.rvc4.tar.xz")
    with tarfile.open(archive) as tar:
        member = tar.getmember("model.dlc")
        assert member.isfile() and tar.extractfile(member).read() == b"not a real dlc"  # type: ignore[union-attr]


def test_depthai_parses_our_archive(yolo_bundle: Bundle, tmp_path: Path) -> None:
    dai = _depthai()
    archive = pack_nn_archive(yolo_bundle, _dlc(tmp_path), tmp_path / "model.rvc4.tar.xz")
    parsed = open_archive(archive, "RVC4")
    assert parsed.getModelType() == dai.ModelType.DLC
    assert parsed.getInputSize() == (640, 640)
    config = parsed.getConfigV1()
    assert config.configVersion == "1.0" and config.model.metadata.path == "model.dlc"
    assert config.model.inputs[0].preprocessing.daiType == "RGB888p"
    assert config.model.outputs[0].shape == [1, 7, 400]
    head = config.model.heads[0]
    assert head.parser == "YOLO" and head.metadata.classes == list(yolo_bundle.manifest.names)
    assert head.metadata.subtype == "yolov8" and head.metadata.yoloOutputs == ["output0"]
    with pytest.raises(BackendError, match="runs on RVC4, not on this RVC2 camera"):
        open_archive(archive, "RVC2")


def test_onnx_archive_is_for_the_converter(yolo_bundle: Bundle, tmp_path: Path) -> None:
    _depthai()
    archive = pack_nn_archive(yolo_bundle, yolo_bundle.model_path(), tmp_path / "model.onnx.tar.xz")
    with pytest.raises(BackendError, match="convert it for a camera first"):
        open_archive(archive, "RVC2")


def test_not_an_archive_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.tar.xz"
    bad.write_bytes(b"\xfd7zXZ garbage")
    with pytest.raises(BackendError, match="loads Luxonis NN Archives"):
        read_archive_config(bad)
    with pytest.raises(BundleError, match="not found"):
        pack_nn_archive(Bundle.__new__(Bundle), tmp_path / "missing.blob", tmp_path / "x.tar.xz")


def test_heads_per_family(yolo_bundle: Bundle, classify_bundle: Bundle, tmp_path: Path) -> None:
    (head,) = archive_config(classify_bundle, "model.blob")["model"]["heads"]
    assert head["parser"] == "ClassificationParser" and head["metadata"]["is_softmax"] is False
    raw = yolo_bundle.manifest.model_copy(update={"family": "raw", "task": "raw"})
    assert archive_config(Bundle(yolo_bundle.root, raw), "model.blob")["model"]["heads"] == []


def test_darknet_import_gets_its_anchors(tmp_path: Path) -> None:
    """A real Darknet import (YOLOv4-tiny: masks 3,4,5 then 1,2,3): each output's own anchors."""
    darknet = load_bundle(darknet_bundle(tmp_path))
    assert darknet.manifest.family == "yolo-anchors"
    (head,) = archive_config(darknet, "model.blob")["model"]["heads"]
    assert head["parser"] == "YOLO" and head["metadata"]["subtype"] == "yolov4"
    pairs = [float(v) for v in ANCHORS_TINY.split(",")]
    tiny = [pairs[i : i + 2] for i in range(0, len(pairs), 2)]
    assert head["metadata"]["anchors"] == [[tiny[3], tiny[4], tiny[5]], [tiny[1], tiny[2], tiny[3]]]
    assert len(head["metadata"]["yolo_outputs"]) == 2
    # Under a family name no parser is registered for, the Darknet head still says YOLO.
    other = Bundle(darknet.root, darknet.manifest.model_copy(update={"family": "custom-darknet"}))
    assert archive_config(other, "model.blob")["model"]["heads"] == [head]
    _depthai()
    archive = pack_nn_archive(darknet, _dlc(tmp_path), tmp_path / "d.tar.xz")
    assert open_archive(archive).getConfigV1().model.heads[0].metadata.anchors == head["metadata"]["anchors"]


def test_rvc4_target_packs_the_users_dlc(yolo_bundle: Bundle, tmp_path: Path) -> None:
    from edgeloop.optimize import OptimizeOptions, optimize

    dlc = _dlc(tmp_path)
    report = optimize(yolo_bundle.root, tmp_path / "oak4", OptimizeOptions(target="rvc4", dlc=dlc))
    out = load_bundle(report.out)
    variant = out.manifest.variant(backend="depthai")
    assert variant.file == "rvc4/model.rvc4.tar.xz" and variant.precision == "int8"
    assert out.manifest.default_variant == yolo_bundle.manifest.default_variant
    assert "made for rvc4, not measured here" in report.warnings[0]
    _depthai()
    assert open_archive(out.path(variant.file), "RVC4").getModelType().name == "DLC"
    with pytest.raises(ConfigError, match="--dlc FILE goes with --target rvc4"):
        optimize(yolo_bundle.root, tmp_path / "a", OptimizeOptions(target="rvc4"))
    with pytest.raises(BundleError, match="ending in .dlc"):
        onnx = OptimizeOptions(target="rvc4", dlc=yolo_bundle.model_path())
        optimize(yolo_bundle.root, tmp_path / "b", onnx)
    assert not (tmp_path / "b").exists()
