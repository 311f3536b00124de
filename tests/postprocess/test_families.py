"""Contract of the output-family registry: every family declares a task, a decoder (raw:
none) and a class counter, recognises its own synthetic models, and no other family
claims them as strongly."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends.onnxruntime import OnnxRuntimeBackend
from edgeloop.bundle import load_bundle
from edgeloop.errors import ConfigError, ModelImportError, NoDecoderError
from edgeloop.importer import ImportOptions, hints, import_onnx, ultralytics_metadata
from edgeloop.postprocess import DECODERS, FAMILY_TASK
from edgeloop.postprocess.families import FAMILIES, NO_DECODER, get_family, recognise, require_decoder
from edgeloop.predictor import Predictor
from edgeloop.testing.darknet_models import darknet_bundle
from edgeloop.testing.family_models import embedder, export_layout_detector, text_detector
from edgeloop.testing.onnx_models import colour_detector, random_yolo
from edgeloop.types import Classification, Detections, ModelSpec

Builder = Callable[[Path], Path]
COLOURS = ["red", "green", "blue"]

# family -> synthetic models of that family: (id, builder, class names when the model carries none)
MODELS: dict[str, list[tuple[str, Builder, list[str] | None]]] = {
    "yolo": [
        ("colour", lambda p: colour_detector(p, imgsz=(320, 480), family="yolo"), None),
        ("colour-bare", lambda p: colour_detector(p, family="yolo", metadata=False), COLOURS),
        ("random", lambda p: random_yolo(p, imgsz=128, num_classes=5, width=0.25), None),
        ("export-layout", lambda p: export_layout_detector(p, imgsz=224), None),
    ],
    "yolov5": [
        ("colour", lambda p: colour_detector(p, family="yolov5"), None),
        ("colour-bare", lambda p: colour_detector(p, family="yolov5", metadata=False), COLOURS),
    ],
    "yolo-e2e": [
        ("colour", lambda p: colour_detector(p, family="yolo-e2e"), None),
        ("colour-bare", lambda p: colour_detector(p, family="yolo-e2e", metadata=False), COLOURS),
    ],
    "classify": [
        ("colour", lambda p: colour_detector(p, imgsz=(224, 224), family="classify"), None),
        ("colour-bare", lambda p: colour_detector(p, family="classify", metadata=False), COLOURS),
    ],
    "raw": [("text-detector", text_detector, None), ("embedder", embedder, None)],
    "yolo-anchors": [("darknet-yolov4-tiny", lambda p: darknet_bundle(p.parent) / "model.onnx", None)],
}
CHOSEN_EXPLICITLY = ("raw", "yolo-anchors")
"""Families no model is recognised as: raw by --family raw, yolo-anchors by the Darknet importer."""
CASES = [(family, *model) for family, models in MODELS.items() for model in models]


def _load(path: Path) -> ModelSpec:
    backend = OnnxRuntimeBackend()
    try:
        return backend.load(path)
    finally:
        backend.close()


def test_every_family_has_synthetic_models() -> None:
    assert sorted(MODELS) == sorted(FAMILIES.names())


@pytest.mark.parametrize("name", FAMILIES.names())
def test_family_declares_task_decoder_and_counter(name: str) -> None:
    family = get_family(name)
    assert family.name == name
    assert family.task in ("detect", "classify", "raw")
    assert (family.decode is None) == (family.task == "raw")
    assert callable(family.recognise) and callable(family.count_classes) and family.summary
    assert FAMILY_TASK[name] == family.task
    assert (name in DECODERS) == (family.decode is not None) == (name not in NO_DECODER)
    if family.decode is None:
        with pytest.raises(NoDecoderError, match="/v2/models/b/infer"):
            require_decoder(name, "b")
    else:
        assert require_decoder(name, "b") is family.decode is DECODERS.get(name)


def test_registry_imports_no_family_until_asked() -> None:
    code = (
        "import sys, edgeloop.postprocess, edgeloop.bundle\n"
        "from edgeloop.postprocess import DECODERS, FAMILIES\n"
        "assert FAMILIES.names() and DECODERS.names()\n"
        "loaded = [m for m in sys.modules if m.startswith('edgeloop.postprocess.families.')]\n"
        "assert loaded == ['edgeloop.postprocess.families.base'], loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_unknown_family() -> None:
    with pytest.raises(ConfigError, match="unknown output family 'nope': choose one of yolo"):
        get_family("nope")


@pytest.mark.parametrize(("family", "model", "build", "names"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_family_recognises_its_own_model_and_no_other_does(
    tmp_path: Path, family: str, model: str, build: Builder, names: list[str] | None
) -> None:
    spec = _load(build(tmp_path / "m.onnx"))
    meta = ultralytics_metadata(spec.metadata)
    meta_names = meta.get("names")
    names = names or ([str(n) for n in meta_names.values()] if isinstance(meta_names, dict) else None)
    imgsz = meta.get("imgsz")
    found = hints(meta, names, tuple(imgsz) if isinstance(imgsz, list) else None)  # type: ignore[arg-type]
    claims = {n: m for n in FAMILIES.names() if (m := get_family(n).recognise(spec, found)) is not None}
    if family in CHOSEN_EXPLICITLY:
        assert claims == {}
        with pytest.raises(ModelImportError, match="--family raw"):
            recognise(spec, found)
        return
    assert family in claims, f"{family} does not recognise its own {model} model"
    rivals = {n: m for n, m in claims.items() if n != family and m.score >= claims[family].score}
    assert rivals == {}, f"{sorted(rivals)} claim the {family} {model} model as strongly"
    assert recognise(spec, found).family == family
    counted = get_family(family).count_classes(spec.outputs[0])
    assert counted in (None, len(names or ()))


@pytest.mark.parametrize("family", [f for f in FAMILIES.names() if get_family(f).task != "raw"])
def test_decoder_runs_on_its_own_model(tmp_path: Path, family: str) -> None:
    _, build, names = MODELS[family][0]
    if family == "yolo-anchors":  # written by the Darknet importer, with its head parameters
        bundle = load_bundle(darknet_bundle(tmp_path))
    else:
        bundle = import_onnx(build(tmp_path / "m.onnx"), tmp_path / "b", ImportOptions(names=names))
    assert bundle.manifest.family == family
    with Predictor(bundle) as predictor:
        result = predictor.predict(np.full((120, 160, 3), 128, np.uint8))
    assert isinstance(result, Detections if get_family(family).task == "detect" else Classification)
