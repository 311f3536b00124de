"""TensorFlow SavedModels and frozen graphs import through tf2onnx and match TensorFlow itself.

The models (a ``yolo``-layout detector and a classifier, built with ``tf.Module``) come from
``edgeloop.testing.tf_models``; TensorFlow runs in the reference environment, with this
checkout's code on its path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeloop.bundle import load_bundle, verify_files
from tests.blocked import run_without
from tests.convert.tf_artifacts import refs_import, refs_json, tf_models

# Imports each model in-process (one TensorFlow start), then compares the bundle's results on
# its golden samples with TensorFlow's own outputs decoded by the same decoder.
_IMPORT_AND_COMPARE = r"""
import json, sys
from pathlib import Path
import numpy as np
import tensorflow as tf
from edgeloop.convert import ConvertOptions, convert_model
from edgeloop.predictor import Predictor

models, work = Path(sys.argv[1]), Path(sys.argv[2])
CASES = {
    "detector-savedmodel": ("detector", ["a", "b", "c"]),
    "detector-frozen": ("detector.pb", ["a", "b", "c"]),
    "classifier-savedmodel": ("classifier", ["k0", "k1", "k2", "k3", "k4"]),
    "classifier-frozen": ("classifier.pb", ["k0", "k1", "k2", "k3", "k4"]),
}

def tensorflow_runs(source):
    if source.is_dir():
        signature = tf.saved_model.load(str(source)).signatures["serving_default"]
        key = list(signature.structured_input_signature[1])[0]
        return lambda t: [v.numpy() for v in signature(**{key: tf.constant(t)}).values()]
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(source.read_bytes())
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    placeholder = [n.name for n in graph_def.node if n.op == "Placeholder"][0]
    run = wrapped.prune(wrapped.graph.get_tensor_by_name(placeholder + ":0"),
                        wrapped.graph.get_tensor_by_name("Identity:0"))
    return lambda t: [run(tf.constant(t)).numpy()]

report = {}
for case, (file, names) in CASES.items():
    source = models / file
    bundle = convert_model(source, work / case, ConvertOptions(names=names, num_samples=4))
    manifest = bundle.manifest
    reference = tensorflow_runs(source)
    worst_output, worst_box, same_classes, counts = 0.0, 0.0, True, []
    with Predictor(bundle) as predictor:
        for sample in manifest.samples:
            array = predictor.load_image(bundle.path(sample.file))
            prepared = predictor.prepare(array, (array.shape[1], array.shape[0]))
            ours = predictor.infer(prepared.tensor)
            theirs = reference(prepared.tensor)
            worst_output = max(worst_output, float(np.max(np.abs(ours[0] - theirs[0]))))
            a = predictor.finish(ours, prepared).to_json((array.shape[1], array.shape[0]))
            b = predictor.finish(theirs, prepared).to_json((array.shape[1], array.shape[0]))
            pa, pb = a["predictions"], b["predictions"]
            counts.append([len(pa), len(pb)])
            same_classes &= [p["class_id"] for p in pa] == [p["class_id"] for p in pb]
            for p, q in zip(pa, pb):
                for key in ("x", "y", "width", "height", "confidence"):
                    if key in p:
                        worst_box = max(worst_box, abs(p[key] - q[key]))
    report[case] = {
        "family": manifest.family, "layout": manifest.input.layout, "variant": manifest.variants[0].file,
        "check": (manifest.provenance.model_extra or {})["source_check"],
        "framework": manifest.provenance.model_extra.get("source_framework"),
        "worst_output": worst_output, "worst_prediction": worst_box, "same_classes": same_classes,
        "counts": counts,
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    work = tmp_path_factory.mktemp("tf-bundles")
    return refs_json(_IMPORT_AND_COMPARE, str(tf_models()), str(work))  # type: ignore[return-value]


@pytest.mark.parametrize(
    "case", ["detector-savedmodel", "detector-frozen", "classifier-savedmodel", "classifier-frozen"]
)
def test_import_matches_tensorflow(compared: dict[str, dict[str, object]], case: str) -> None:
    result = compared[case]
    check = result["check"]
    assert isinstance(check, dict)
    assert check["checked"] is True and str(check["reference"]).startswith("tensorflow 2.")
    assert check["samples"] == 4
    assert check["max_abs_diff"] <= 1e-4
    assert result["worst_output"] <= 1e-4  # measured again here, with TensorFlow run by the test
    assert result["family"] == ("yolo" if case.startswith("detector") else "classify")
    assert result["layout"] == "NHWC" and result["variant"] == "model.onnx"
    assert str(result["framework"]).startswith("tensorflow 2.")
    counts = result["counts"]
    assert isinstance(counts, list) and all(a == b and a > 0 for a, b in counts)
    assert result["same_classes"] is True
    assert result["worst_prediction"] <= 1e-3  # decoded boxes and scores, rounded as reported


def test_cli_import_of_a_savedmodel(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    outcome = refs_import([str(tf_models() / "detector"), "--out", str(out), "--names", "a,b,c"])
    assert outcome.returncode == 0, outcome.stderr_lines
    assert outcome.stderr_lines[0].startswith("bundle 'detector' written to")
    assert "family yolo, 3 classes, input 64x64 NHWC" in outcome.stderr_lines[0]
    assert outcome.stderr_lines[1].startswith("checked against tensorflow 2.")
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["provenance"]["source_files"].keys() == {"saved_model.pb"}
    verify_files(load_bundle(out))


def test_missing_class_names_are_asked_for(tmp_path: Path) -> None:
    outcome = refs_import([str(tf_models() / "detector.pb"), "--out", str(tmp_path / "b")])
    assert outcome.problem() is None, outcome.problem()
    assert "--names" in outcome.stderr_lines[0]
    assert not (tmp_path / "b").exists()


def test_missing_tensorflow_says_how_to_install(tmp_path: Path) -> None:
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['edgeloop', 'import', {str(tf_models() / 'detector')!r}, '--out', "
        f"{str(tmp_path / 'b')!r}, '--names', 'a,b,c']\n"
        "runpy.run_module('edgeloop', run_name='__main__')\n"
    )
    result = run_without(("tensorflow", "tf2onnx"), code)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: converting TensorFlow models needs TensorFlow and tf2onnx: pip install 'edgeloop[tensorflow]'"
    )
    assert not (tmp_path / "b").exists()


def test_frozen_graph_inputs_and_outputs_by_name(tmp_path: Path) -> None:
    two = str(tf_models() / "detector_two_inputs.pb")
    outcome = refs_import([two, "--out", str(tmp_path / "a"), "--names", "a,b,c"])
    assert outcome.problem() is None, outcome.problem()
    assert "found inputs ['images:0', 'training:0']" in outcome.stderr_lines[0]
    assert "--inputs NODE --outputs A,B" in outcome.stderr_lines[0]
    named = [two, "--inputs", "images", "--outputs", "Identity:0", "--names", "a,b,c"]
    outcome = refs_import([*named, "--out", str(tmp_path / "b")])
    assert outcome.returncode == 0, outcome.stderr_lines
    check = load_bundle(tmp_path / "b").manifest.provenance.model_extra["source_check"]  # type: ignore[index]
    assert check["checked"] is True and check["max_abs_diff"] <= 1e-4
    outcome = refs_import([two, "--inputs", "pixels", "--out", str(tmp_path / "c"), "--names", "a,b,c"])
    assert outcome.problem() is None and "the graph has no node pixels:0" in outcome.stderr_lines[0]
