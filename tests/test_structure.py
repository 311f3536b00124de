"""Small modules and an inference path without OpenCV or torch (DESIGN.md rules 6 and the layers)."""

from __future__ import annotations

from pathlib import Path

from tests.blocked import run_without

SRC = Path(__file__).resolve().parents[1] / "src" / "edgeloop"
MAX_LINES = 500


def test_no_module_over_500_lines() -> None:
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in SRC.rglob("*.py")}
    assert len(sizes) > 50, "no sources found: the test looks in the wrong place"
    over = sorted((n, str(p.relative_to(SRC.parent))) for p, n in sizes.items() if n > MAX_LINES)
    assert not over, "split these modules (DESIGN.md rule 6: refactor before 500 lines):\n" + "\n".join(
        f"  {path}: {n} lines" for n, path in over
    )


def test_inference_path_imports_without_opencv_or_torch() -> None:
    """The server and the inference chain import with cv2 and torch impossible to import.

    import-linter checks imports anywhere in a module; this checks what runs at import time,
    including imports the graph cannot see (``require_opencv`` goes through importlib).
    """
    code = """
import edgeloop, edgeloop.predictor, edgeloop.backends, edgeloop.bundle, edgeloop.imaging
import edgeloop.preprocess, edgeloop.postprocess, edgeloop.importer, edgeloop.samples
import edgeloop.backends.onnxruntime, edgeloop.backends.openvino, edgeloop.backends.tensorrt
import edgeloop.serve.app, edgeloop.serve.worker, edgeloop.serve.pipelines
import edgeloop.stream.sinks, edgeloop.stream.sinks.jsonl, edgeloop.stream.zones  # video sources need cv2
assert "cv2" not in sys.modules and "torch" not in sys.modules
"""
    result = run_without(("cv2", "torch"), code)
    assert result.returncode == 0, result.stderr
