"""The shared last step of every import: the bundle written, checked against its source, samples added."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import create_backend, parse_backend_config
from edgeloop.bundle import Bundle, load_bundle
from edgeloop.convert import Converted, ConvertOptions, detect_format
from edgeloop.convert.write import write_bundle
from edgeloop.errors import BundleError, ModelImportError


def _converted(bundle: Bundle, shift: float = 0.0) -> Converted:
    backend = create_backend(parse_backend_config("onnxruntime"))
    spec = backend.load(bundle.model_path())

    def reference(tensor: np.ndarray) -> list[np.ndarray]:  # ONNX Runtime standing in for a framework
        return [o + shift for o in backend.infer({spec.inputs[0].name: tensor})]

    m = bundle.manifest
    return Converted(
        model_file=bundle.model_path(),
        bundle_file="model.onnx",
        backend="onnxruntime",
        family=m.family,
        task=m.task,
        names=list(m.names),
        input=m.input,
        framework="onnx (test)",
        source_files=[bundle.model_path()],
        reference=reference,
        reference_name="onnxruntime (test)",
    )


def test_written_bundle_records_the_check_and_samples(yolo_bundle: Bundle, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bundle = write_bundle(_converted(yolo_bundle), tmp_path / "out", ConvertOptions(name="imp"), work)
    extra = bundle.manifest.provenance.model_extra or {}
    assert extra["source_check"]["checked"] is True
    assert extra["source_check"]["max_abs_diff"] == 0.0
    assert extra["source_framework"] == "onnx (test)"
    assert len(bundle.manifest.samples) == 3
    assert load_bundle(tmp_path / "out").manifest.name == "imp"


def test_a_difference_over_tolerance_refuses_and_leaves_nothing(yolo_bundle: Bundle, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ModelImportError, match=r"differs from onnxruntime \(test\) by up to 0\.01"):
        write_bundle(_converted(yolo_bundle, shift=0.01), tmp_path / "out", ConvertOptions(), work)
    assert not (tmp_path / "out").exists()
    bundle = write_bundle(
        _converted(yolo_bundle, shift=0.01), tmp_path / "out", ConvertOptions(check=False), work
    )
    assert (bundle.manifest.provenance.model_extra or {})["source_check"] == {
        "checked": False,
        "why": "--skip-check",
    }


def test_non_empty_out_is_refused(yolo_bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        write_bundle(_converted(yolo_bundle), tmp_path / "out", ConvertOptions(), tmp_path)


def test_unknown_files_name_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "model.xyz"
    path.write_bytes(b"x")
    with pytest.raises(ModelImportError, match=r"not a model format edgeloop imports: ONNX \(\.onnx\)"):
        detect_format(path)
