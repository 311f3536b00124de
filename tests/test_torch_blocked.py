"""The device path must import and run with torch impossible to import."""

import subprocess
from pathlib import Path

from edgeloop.bundle import Bundle
from tests.blocked import run_without


def run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    return run_without(("torch",), code)


def test_block_works() -> None:
    result = run_blocked("import torch")
    assert result.returncode != 0 and "blocked" in result.stderr


def test_device_modules_import_and_predict_without_torch(yolo_bundle: Bundle) -> None:
    code = f"""
import edgeloop.predictor, edgeloop.backends, edgeloop.bundle, edgeloop.imaging, edgeloop.cli.main
import edgeloop.backends.onnxruntime, edgeloop.importer
import edgeloop.serve.app, edgeloop.serve.worker, edgeloop.stream.pipeline, edgeloop.stream.sources
import edgeloop.stream.sinks.jsonl, edgeloop.stream.sinks.mqtt, edgeloop.stream.sinks.webhook
import edgeloop.hardware.predict, edgeloop.hardware.advise, edgeloop.stream.zones
import edgeloop.evaluate, edgeloop.evaluate.plots, edgeloop.cli.eval
import edgeloop.improve.hook, edgeloop.stream.sinks.capture, edgeloop.stream.collect, edgeloop.serve.capture
import edgeloop.cli.capture, edgeloop.cli.run, edgeloop.cli.serve
from trackers import ByteTrackTracker  # what zones use for tracking
ByteTrackTracker()
import numpy as np
from edgeloop.predictor import Predictor
with Predictor({str(yolo_bundle.root)!r}) as p:
    print(len(p.predict(np.full((64, 64, 3), 128, np.uint8))))
from pathlib import Path
from edgeloop.data.dataset import Dataset, Item, labelled_boxes
from edgeloop.evaluate import detection_metrics
gt = labelled_boxes([[1, 1, 9, 9]], [0], ["a"])
report = detection_metrics(Dataset(("a",), (Item(Path("x.png"), "x.png", (10, 10), gt),)), [gt])
assert report.map50 == 1.0, report  # COCO metrics (faster-coco-eval) need no torch either
assert "torch" not in sys.modules
"""
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_cli_predict_without_torch(yolo_bundle: Bundle, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.png"), np.full((64, 64, 3), 128, np.uint8))
    code = f"""
sys.argv = ["edgeloop", "predict", {str(yolo_bundle.root)!r}, {str(tmp_path / "a.png")!r}, "--json"]
from edgeloop.cli.main import main
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
"""
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert '"predictions": []' in result.stdout


def test_optimize_runs_without_torch(yolo_bundle: Bundle, tmp_path: Path) -> None:
    """INT8 quantization, OpenVINO conversion and the TensorRT module never need torch."""
    import cv2
    import numpy as np

    (tmp_path / "calib").mkdir()
    cv2.imwrite(str(tmp_path / "calib" / "a.png"), np.full((64, 64, 3), 128, np.uint8))
    # ONNX Runtime's tools package asks find_spec("torch") and imports torch helpers when it is
    # found; where torch is not installed find_spec answers None, so answer that here too.
    code = f"""
import importlib.util
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split(".")[0] == "torch" else _find_spec(name, package)
)
import edgeloop.backends.openvino, edgeloop.backends.tensorrt, edgeloop.export.quantize
from edgeloop.optimize import OptimizeOptions, optimize
options = OptimizeOptions(int8=True, openvino=True, calib={str(tmp_path / "calib")!r}, latency_runs=3)
report = optimize({str(yolo_bundle.root)!r}, {str(tmp_path / "out")!r}, options)
print(len(report.variants))
assert "torch" not in sys.modules
"""
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"
