"""`edgeloop import` reads what `edgeloop export` writes: torch's exporter leaves the class
axis symbolic (['batch', 'Transposeoutput0_dim_1', 1029]); the metadata says the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

torch = pytest.importorskip("torch")


def _export(tmp_path: Path, detector: bool) -> Path:
    from edgeloop.export.onnx import _metadata, _onnx_export
    from edgeloop.train.model import Classifier, ClassifierExport, Detector, DetectorExport

    torch.manual_seed(0)
    module = DetectorExport(Detector(3), (224, 224)) if detector else ClassifierExport(Classifier(3))
    path = tmp_path / "model.onnx"
    _onnx_export(module.eval(), 224, path)
    _metadata(path, ["square", "circle", "triangle"], 224, "detect" if detector else "classify")
    return path


@pytest.mark.parametrize("detector", [True, False], ids=["detect", "classify"])
def test_import_of_an_edgeloop_export(tmp_path: Path, detector: bool) -> None:
    from edgeloop.predictor import Predictor

    model = _export(tmp_path, detector)
    result = run_cli("import", str(model), "--out", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    family = "yolo" if detector else "classify"
    assert f"family {family}, 3 classes, input 224x224" in result.stderr
    with Predictor(tmp_path / "b") as predictor:
        predictor.predict(np.full((120, 160, 3), 128, np.uint8))
