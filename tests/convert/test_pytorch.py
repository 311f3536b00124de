"""PyTorch imports: TorchScript (script, trace) and .pt2 programs convert and match torch; pickles
are refused without being unpickled; crafted archives fail with one clear line."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.cli.main import app
from edgeloop.convert.pytorch import tolerance_for
from edgeloop.convert.torch_pickle import check_storages
from edgeloop.errors import ModelImportError
from edgeloop.postprocess.families import DECODERS
from edgeloop.predictor import Predictor
from edgeloop.testing.hostile_imports import run_import
from edgeloop.testing.hostile_models import MARKER, makers, pytorch_pickle_with_marker
from edgeloop.types import Classification, Detections
from tests.blocked import run_without

torch = pytest.importorskip("torch")

from tests.convert.torch_models import Classifier, Detector, save, seeded  # noqa: E402

KINDS = [("script", ".pt"), ("trace", ".ts"), ("export", ".pt2")]
DET_NAMES, CLS_NAMES = "car,person,dog", "a,b,c,d"


def _import(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["import", *args], env={"COLUMNS": "300"})
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[torch.nn.Module, Path]]:
    folder = tmp_path_factory.mktemp("torch-models")
    made = {}
    for kind, suffix in KINDS:
        for name, cls in (("det", Detector), ("cls", Classifier)):
            model = seeded(cls)
            made[f"{name}-{kind}"] = (model, save(model, kind, folder / f"{name}-{kind}{suffix}"))
    return made


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_detector_imports_and_matches_torch(models: dict, kind: str, tmp_path: Path) -> None:
    model, path = models[f"det-{kind}"]
    code, output = _import([str(path), "--out", str(tmp_path / "b"), "--names", DET_NAMES, "--imgsz", "64"])
    assert code == 0, output
    bundle = load_bundle(tmp_path / "b")
    check = (bundle.manifest.provenance.model_extra or {})["source_check"]
    assert check["checked"] is True and check["reference"].startswith("torch ")
    assert check["max_abs_diff"] <= 1e-4, check
    assert bundle.manifest.family == "yolo" and bundle.manifest.task == "detect"
    found = _compare_predictions(bundle, model)
    assert found > 0  # the images give the decoder something to compare


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_classifier_imports_and_matches_torch(models: dict, kind: str, tmp_path: Path) -> None:
    model, path = models[f"cls-{kind}"]
    code, output = _import([str(path), "--out", str(tmp_path / "b"), "--names", CLS_NAMES, "--imgsz", "64"])
    assert code == 0, output
    bundle = load_bundle(tmp_path / "b")
    check = (bundle.manifest.provenance.model_extra or {})["source_check"]
    assert check["checked"] is True and check["max_abs_diff"] <= 1e-4, check
    assert bundle.manifest.family == "classify"
    _compare_predictions(bundle, model)


def _compare_predictions(bundle: Bundle, model: torch.nn.Module) -> int:
    """Predict on the bundle's golden images and decode torch's own outputs the same way; the box count."""
    decode = DECODERS.get(bundle.manifest.family)
    boxes = 0
    with Predictor(bundle) as predictor:
        for sample in bundle.manifest.samples:
            image = predictor.load_image(bundle.root / sample.file)
            ours = predictor.predict(image)
            prepared = predictor.prepare(image)
            with torch.no_grad():
                raw = model(torch.from_numpy(prepared.tensor)).numpy()
            theirs = decode([raw[0]], prepared.transform, predictor.defaults)
            if isinstance(ours, Detections):
                assert isinstance(theirs, Detections)
                assert len(ours) == len(theirs)
                np.testing.assert_array_equal(ours.class_id, theirs.class_id)
                np.testing.assert_allclose(ours.xyxy, theirs.xyxy, atol=1e-3)
                np.testing.assert_allclose(ours.confidence, theirs.confidence, atol=1e-4)
                boxes += len(ours)
            else:
                assert isinstance(ours, Classification) and isinstance(theirs, Classification)
                np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=1e-4)
                assert int(np.argmax(ours.probabilities)) == int(np.argmax(theirs.probabilities))
    return boxes


def test_tolerance_is_1e4_or_four_float32_steps() -> None:
    assert tolerance_for(118.0) == 1e-4  # the test detector's largest box value
    assert tolerance_for(624.0) == pytest.approx(4 * 6.103515625e-05)  # a 640-pixel detector's boxes


def test_without_torch_the_import_names_the_extra(models: dict, tmp_path: Path) -> None:
    code = f"""
from edgeloop.convert import convert_model
from edgeloop.errors import ModelImportError
try:
    convert_model({str(models["det-script"][1])!r}, {str(tmp_path / "b")!r})
except ModelImportError as exc:
    print(exc)
"""
    result = run_without(("torch",), code)
    assert result.stdout.strip() == "importing PyTorch models needs torch: pip install 'edgeloop[pytorch]'"


def test_torchscript_needs_imgsz(models: dict, tmp_path: Path) -> None:
    code, output = _import([str(models["det-script"][1]), "--out", str(tmp_path / "b"), "--names", DET_NAMES])
    assert code == 1 and "pass --imgsz" in output
    assert not (tmp_path / "b").exists()


def test_pt2_reads_its_input_size_and_refuses_another(models: dict, tmp_path: Path) -> None:
    path = models["cls-export"][1]
    code, output = _import([str(path), "--out", str(tmp_path / "b"), "--names", CLS_NAMES])
    assert code == 0, output
    assert load_bundle(tmp_path / "b").manifest.input.size_hw == (64, 64)
    code, output = _import([str(path), "--out", str(tmp_path / "c"), "--names", CLS_NAMES, "--imgsz", "32"])
    assert code == 1 and "exported for input [1, 3, 64, 64]" in output


@pytest.mark.parametrize("what", ["model", "state_dict"])
def test_torch_save_pickles_are_refused(models: dict, what: str, tmp_path: Path) -> None:
    model = models["cls-script"][0]
    path = tmp_path / "model.pt"
    torch.save(model if what == "model" else model.state_dict(), path)
    outcome = run_import([str(path), "--out", str(tmp_path / "b")])
    assert outcome.problem() is None, outcome
    assert "pickled torch.save file" in outcome.stderr_lines[0]
    assert "torch.jit.save" in outcome.stderr_lines[0] and "torch.export.save" in outcome.stderr_lines[0]


@pytest.mark.parametrize("zipped", [False, True])
def test_a_pickle_is_never_unpickled(tmp_path: Path, zipped: bool) -> None:
    live, used = tmp_path / "live", tmp_path / "used"
    live.mkdir()
    used.mkdir()
    pickle.loads(pytorch_pickle_with_marker(live, zipped=False).read_bytes())  # the payload works...
    assert (live / MARKER).is_dir()
    outcome = run_import([str(pytorch_pickle_with_marker(used, zipped=zipped)), "--out", str(tmp_path / "b")])
    assert outcome.problem() is None, outcome
    assert "pickle" in outcome.stderr_lines[0]
    assert not (used / MARKER).exists()  # ...and edgeloop import never ran it


def test_pt2_sample_inputs_are_never_unpickled(tmp_path: Path) -> None:
    (maker,) = [m for k, m in makers("pytorch") if "pickle a live payload" in k]
    outcome = run_import([*maker(tmp_path), "--out", str(tmp_path / "b")])
    assert outcome.problem() is None, outcome
    assert "sample inputs are not plain tensors (they name os.makedirs)" in outcome.stderr_lines[0]
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize(
    "kind",
    [
        "truncated at 50%",
        "~4 GiB member",
        "garbage bytes (seed 0)",
        "corrupt JSON",
        "calling a Python function",
    ],
)
def test_crafted_archives_fail_cleanly(kind: str, tmp_path: Path) -> None:
    _fails_cleanly("pytorch", kind, tmp_path)


@pytest.mark.parametrize("kind", ["a tensor record cut to 4 bytes", "a node calling aten::save"])
def test_crafted_real_exports_fail_cleanly(kind: str, tmp_path: Path) -> None:
    """torch 2.13 itself loads a TorchScript whose tensor record is cut short (heap bytes as weights)."""
    _fails_cleanly("pytorch-real", kind, tmp_path)


def _fails_cleanly(fmt: str, kind: str, tmp_path: Path) -> None:
    (maker,) = [m for k, m in makers(fmt) if kind in k]
    outcome = run_import([*maker(tmp_path), "--out", str(tmp_path / "b")])
    assert outcome.problem() is None, outcome
    assert not (tmp_path / "b").exists()


def _storage_tuple(numel: int) -> bytes:
    """MARK 'storage' torch.FloatStorage '0' 'cpu' numel TUPLE: the reference torch pickles."""

    def text(t: bytes) -> bytes:
        return b"X" + struct.pack("<I", len(t)) + t

    numel_op = b"J" + struct.pack("<i", numel)
    return b"(" + text(b"storage") + b"ctorch\nFloatStorage\n" + text(b"0") + text(b"cpu") + numel_op + b"t"


def _check(pickled: bytes) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("m/data.pkl", pickled)
        zf.writestr("m/data/0", b"\0" * 4)  # one float
    with zipfile.ZipFile(buf) as zf:
        check_storages("m.pt", zf, "m/data.pkl", "m/data/")


def test_a_storage_reference_from_the_memo_is_refused() -> None:
    """The record length is checked against the tuple BINPERSID takes: a crafted pickle that memoizes
    a tuple claiming a million floats, builds a harmless one, then references the first is refused."""
    _check(b"\x80\x02" + _storage_tuple(1) + b"q\x00Q.")  # torch.save's layout: TUPLE BINPUT BINPERSID
    _check(b"\x80\x02" + _storage_tuple(1) + b"Q.")  # TorchScript's: TUPLE BINPERSID
    with pytest.raises(ModelImportError, match="holds 4 bytes but the model says 4000000"):
        _check(b"\x80\x02" + _storage_tuple(10**6) + b"Q.")
    crafted = _storage_tuple(10**6) + b"q\x000" + _storage_tuple(1) + b"0h\x00Q."
    with pytest.raises(ModelImportError, match="persistent reference not built right before it"):
        _check(b"\x80\x02" + crafted)
