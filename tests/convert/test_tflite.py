""".tflite files import as they are and run on LiteRT: FP32 and INT8 outputs match TensorFlow's own
interpreter, detections match ONNX Runtime's on the same detector, and ``--to-onnx`` converts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import LiteRtConfig
from edgeloop.bundle import Bundle, load_bundle
from edgeloop.convert import ConvertOptions, convert_model
from edgeloop.convert.samples import sample_images
from edgeloop.errors import BundleError
from edgeloop.hardware.bench import bench_bundle
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.predictor import Predictor
from edgeloop.testing.parity import match_detections
from edgeloop.testing.tf_models import CLASSIFIER_NAMES
from edgeloop.types import Classification, Detections
from tests.convert.tf_artifacts import refs_import, refs_run, tf_models

pytest.importorskip("ai_edge_litert")

NAMES = ["a", "b", "c"]

# TensorFlow's interpreter on the tensors of an .npz (float inputs quantized for an integer input,
# integer outputs dequantized: what the LiteRT backend does); the outputs into another .npz.
_TF_INTERPRETER = r"""
import sys, warnings
import numpy as np
import tensorflow as tf
for model, tensors, out in zip(*[iter(sys.argv[1:])] * 3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(  # TensorFlow's reference kernels: no XNNPACK
            model_path=model,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = {}
    for key, x in np.load(tensors).items():
        scale, zero = inp["quantization"]
        if scale and x.dtype.kind == "f":  # image bytes for a uint8 input go in as they are
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / np.float32(scale)) + zero, info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(outp["index"])
        scale, zero = outp["quantization"]
        results[key] = (y.astype(np.float32) - zero) * np.float32(scale) if scale else y
    np.savez(out, step=np.float32(outp["quantization"][0]), **results)
"""
FILES = ("detector.tflite", "detector_int8.tflite", "detector_uint8.tflite", "classifier.tflite")


def _images(work: Path, count: int) -> list[Path]:
    return sample_images(None, count, (64, 64), work)


def litert_vs_tensorflow(
    bundles: dict[str, Bundle], images: list[Path], work: Path
) -> dict[str, tuple[float, float]]:
    """Per bundle: (largest |LiteRT - tf.lite.Interpreter| over the images' outputs, one output
    quantization step), TensorFlow run once for all of them."""
    args, ours = [], {}
    for key, bundle in bundles.items():
        tensors, ours[key] = {}, {}
        with Predictor(bundle, LiteRtConfig()) as predictor:
            for i, image in enumerate(images):
                tensor = predictor.prepare(predictor.load_image(image)).tensor
                tensors[f"t{i}"] = tensor
                ours[key][f"t{i}"] = predictor.infer(tensor)[0]
        np.savez(work / f"{key}.in.npz", **tensors)
        args += [str(bundle.model_path()), str(work / f"{key}.in.npz"), str(work / f"{key}.out.npz")]
    refs_run(_TF_INTERPRETER, *args)
    found = {}
    for key, outputs in ours.items():
        theirs = np.load(work / f"{key}.out.npz")
        worst = max(float(np.max(np.abs(outputs[k] - theirs[k]))) for k in outputs)
        found[key] = (worst, float(theirs["step"]))
    return found


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Bundle, float, float]]:
    """Each test .tflite imported, and its LiteRT outputs against TensorFlow's on 4 images."""
    work = tmp_path_factory.mktemp("tflite")
    names = {f: list(CLASSIFIER_NAMES) if f.startswith("classifier") else NAMES for f in FILES}
    bundles = {f: convert_model(tf_models() / f, work / f, ConvertOptions(names=names[f])) for f in FILES}
    diffs = litert_vs_tensorflow(bundles, _images(work / "images", 4), work)
    return {f: (bundles[f], *diffs[f]) for f in FILES}


def test_fp32_tflite_runs_on_litert_like_tensorflow(compared: dict[str, tuple[Bundle, float, float]]) -> None:
    bundle, worst, _ = compared["detector.tflite"]
    variant = bundle.manifest.variants[0]
    assert (variant.file, variant.backends, variant.precision) == ("model.tflite", ["litert"], "fp32")
    assert bundle.manifest.family == "yolo" and bundle.manifest.input.layout == "NHWC"
    check = (bundle.manifest.provenance.model_extra or {})["source_check"]
    if importlib.util.find_spec("tensorflow") is None:
        assert check["checked"] is False  # nothing independent here: said so, not faked
    else:
        assert check["checked"] is True and check["max_abs_diff"] <= 1e-4
    assert len(bundle.manifest.samples) == 3
    assert worst <= 1e-4


def test_fp32_tflite_classifier_runs_on_litert_like_tensorflow(
    compared: dict[str, tuple[Bundle, float, float]],
) -> None:
    bundle, worst, _ = compared["classifier.tflite"]
    assert bundle.manifest.task == "classify" and bundle.manifest.family == "classify"
    assert bundle.manifest.variants[0].backends == ["litert"]
    assert worst <= 1e-4
    with Predictor(bundle, LiteRtConfig()) as predictor:
        result = predictor.predict(_images(bundle.root.parent / "cls-images", 1)[0])
    assert isinstance(result, Classification) and result.names == CLASSIFIER_NAMES


@pytest.mark.parametrize(
    ("file", "dtype"), [("detector_int8.tflite", "float32"), ("detector_uint8.tflite", "uint8")]
)
def test_int8_tflite_runs_on_litert_like_tensorflow(
    file: str, dtype: str, compared: dict[str, tuple[Bundle, float, float]]
) -> None:
    """int8 input: floats quantized inside the backend; uint8 input: the image's bytes as they are."""
    bundle, worst, step = compared[file]
    variant = bundle.manifest.variants[0]
    assert (variant.file, variant.backends, variant.precision) == ("model.tflite", ["litert"], "int8")
    assert bundle.manifest.input.dtype == dtype
    with Predictor(bundle, LiteRtConfig()) as predictor:
        assert predictor.model_spec.inputs[0].dtype == dtype
        assert predictor.model_spec.outputs[0].dtype == "float32"  # dequantized inside the backend
    assert step > 0
    assert worst <= step * 1.001  # exactly the same or one quantization step apart


def test_litert_reproduces_onnxruntime_detections(tmp_path: Path) -> None:
    models = tf_models()
    tflite = convert_model(models / "detector.tflite", tmp_path / "tflite", ConvertOptions(names=NAMES))
    onnx = import_onnx(models / "detector.onnx", tmp_path / "onnx", ImportOptions(names=NAMES))
    assert onnx.manifest.input.layout == "NHWC"
    total = matched = 0
    with Predictor(tflite, LiteRtConfig()) as lite, Predictor(onnx) as ort:
        for image in _images(tmp_path / "images", 8):
            theirs, ours = ort.predict(image), lite.predict(image)
            assert isinstance(theirs, Detections) and isinstance(ours, Detections)
            total += len(theirs)
            matched += match_detections(theirs, ours, iou=0.95).matched
            assert abs(len(ours) - len(theirs)) <= max(1, len(theirs) // 100)
    assert total >= 100
    assert matched >= 0.99 * total, f"{matched}/{total} boxes matched at IoU >= 0.95"


def test_to_onnx_is_checked_against_tensorflow(tmp_path: Path) -> None:
    out = tmp_path / "b"
    outcome = refs_import(
        [str(tf_models() / "detector.tflite"), "--to-onnx", "--out", str(out), "--names", "a,b,c"]
    )
    assert outcome.returncode == 0, outcome.stderr_lines
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["variants"][0]["file"] == "model.onnx"
    check = manifest["provenance"]["source_check"]
    assert check["checked"] is True and "tf.lite.Interpreter" in check["reference"]
    assert check["max_abs_diff"] <= 1e-4
    assert load_bundle(out).manifest.input.layout == "NHWC"


def test_int8_to_onnx_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """Integer inputs or outputs would stay integer in ONNX (uint8 ones came out 195 apart
    from TensorFlow's dequantized outputs when tried): refused before converting."""
    out = tmp_path / "b"
    outcome = refs_import(
        [str(tf_models() / "detector_uint8.tflite"), "--to-onnx", "--out", str(out), "--names", "a,b,c"]
    )
    assert outcome.problem() is None, outcome.problem()
    errors = [line for line in outcome.stderr_lines if line.startswith("error:")]
    assert len(errors) == 1 and "without --to-onnx" in errors[0]
    assert "Traceback" not in "\n".join(outcome.stderr_lines)
    assert not out.exists()


def test_bench_times_a_tflite_bundle_per_stage(tmp_path: Path) -> None:
    bundle = convert_model(tf_models() / "detector_int8.tflite", tmp_path / "b", ConvertOptions(names=NAMES))
    report = bench_bundle(bundle, [LiteRtConfig(num_threads=1)], warmup=1, runs=3)
    (run,) = report.results
    assert (run.variant, run.backend, run.precision) == ("model.tflite", "litert", "int8")
    assert run.backend_config == {"num_threads": 1}
    assert run.stages["total"].p50_ms >= run.stages["infer"].p50_ms > 0


def test_default_backend_on_a_tflite_bundle_names_the_flag(
    compared: dict[str, tuple[Bundle, float, float]],
) -> None:
    bundle = compared["detector.tflite"][0]
    with pytest.raises(
        BundleError, match="its model.tflite runs on litert, not onnxruntime: pass --backend litert"
    ):
        Predictor(bundle)
