"""LiteRT (FP32 and INT8 .tflite) against ONNX Runtime (tf2onnx's ONNX) on the same TensorFlow
detector: inference time ratios, interleaved, medians, one thread each.

A 320x320 NHWC conv detector (``yolo`` output [1, 7, 1600], seeded weights) is built with
TensorFlow in the reference environment (.venv-refs) and exported three ways; each is imported
as a bundle and run by the Predictor. Rounds alternate the runtimes so that whatever else runs
on the machine weighs on all of them alike; the printed numbers are ratios to ONNX Runtime
measured in the same run, and how many ONNX Runtime boxes LiteRT FP32 reproduces.

    PYTHONPATH=src .venv/bin/python benchmarks/litert_vs_onnxruntime.py [--rounds 15] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

_BUILD = r"""
import sys
from pathlib import Path
import numpy as np
import tensorflow as tf

out = Path(sys.argv[1]); rng = np.random.default_rng(5)
def var(*shape, scale=0.2):
    return tf.Variable(rng.normal(0, scale, shape).astype(np.float32))

class Detector(tf.Module):
    def __init__(self):
        super().__init__()
        chans = [3, 16, 32, 64]
        self.ws = [var(3, 3, a, b, scale=(2 / (9 * a)) ** 0.5) for a, b in zip(chans, chans[1:])]
        self.bs = [var(b, scale=0.05) for b in chans[1:]]
        self.w4, self.b4 = var(3, 3, 64, 64, scale=(2 / 576) ** 0.5), var(64, scale=0.05)
        self.wh, self.bh = var(1, 1, 64, 7, scale=0.1), var(7, scale=0.05)
        gy, gx = np.meshgrid(np.arange(40, dtype=np.float32), np.arange(40, dtype=np.float32), indexing="ij")
        self.grid = tf.constant(np.stack([gx.reshape(-1), gy.reshape(-1)], 1)[None])

    @tf.function(input_signature=[tf.TensorSpec([1, 320, 320, 3], tf.float32, name="images")])
    def __call__(self, images):
        x = images
        for w, b in zip(self.ws, self.bs):
            x = tf.nn.relu(tf.nn.conv2d(x, w, 2, "SAME") + b)
        x = tf.nn.relu(tf.nn.conv2d(x, self.w4, 1, "SAME") + self.b4)
        h = tf.reshape(tf.nn.conv2d(x, self.wh, 1, "SAME") + self.bh, [1, 1600, 7])
        xy = (self.grid + tf.sigmoid(h[:, :, 0:2])) * 8.0
        wh = tf.sigmoid(h[:, :, 2:4]) * 64.0 + 8.0
        return {"output": tf.transpose(tf.concat([xy, wh, tf.sigmoid(h[:, :, 4:7])], 2), [0, 2, 1])}

folder = out / "detector"
tf.saved_model.save(Detector(), str(folder))
(out / "detector.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(folder)).convert())
conv = tf.lite.TFLiteConverter.from_saved_model(str(folder))
conv.optimizations = [tf.lite.Optimize.DEFAULT]
def representative():
    for _ in range(32):
        yield [rng.uniform(0, 1, (1, 320, 320, 3)).astype(np.float32)]
conv.representative_dataset = representative
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
(out / "detector_int8.tflite").write_bytes(conv.convert())
import tf2onnx
from tf2onnx import tf_loader
graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
    str(folder), None, None, return_tensors_to_rename=True)
tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs, opset=13,
                               tensors_to_rename=renames, output_path=str(out / "detector.onnx"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=20, help="inferences per runtime per round")
    args = parser.parse_args()

    from edgeloop.backends import LiteRtConfig, OnnxRuntimeConfig
    from edgeloop.convert import ConvertOptions, convert_model
    from edgeloop.convert.samples import sample_images
    from edgeloop.importer import ImportOptions, import_onnx
    from edgeloop.predictor import Predictor
    from edgeloop.testing.parity import match_detections
    from edgeloop.testing.refs import refs_python
    from edgeloop.testing.tf_models import refs_env
    from edgeloop.types import Detections

    work = Path(tempfile.mkdtemp(prefix="litert-bench-"))
    subprocess.run(
        [str(refs_python()), "-c", _BUILD, str(work)], check=True, env=refs_env(), capture_output=True
    )
    names = ["a", "b", "c"]
    bundles = {
        "onnxruntime fp32": (
            import_onnx(work / "detector.onnx", work / "b-onnx", ImportOptions(names=names)),
            OnnxRuntimeConfig(intra_op_threads=1),
        ),
        "litert fp32": (
            convert_model(work / "detector.tflite", work / "b-fp32", ConvertOptions(names=names)),
            LiteRtConfig(num_threads=1),
        ),
        "litert int8": (
            convert_model(work / "detector_int8.tflite", work / "b-int8", ConvertOptions(names=names)),
            LiteRtConfig(num_threads=1),
        ),
    }
    images = sample_images(None, 8, (320, 320), work / "images")
    predictors = {key: Predictor(bundle, config) for key, (bundle, config) in bundles.items()}
    base = predictors["onnxruntime fp32"]
    tensor = base.prepare(base.load_image(images[0])).tensor
    for predictor in predictors.values():
        for _ in range(5):
            predictor.infer(tensor)  # warm-up
    rounds: dict[str, list[float]] = {key: [] for key in predictors}
    for _ in range(args.rounds):
        for key, predictor in predictors.items():
            start = time.perf_counter()
            for _ in range(args.runs):
                predictor.infer(tensor)
            rounds[key].append((time.perf_counter() - start) / args.runs)
    medians = {key: statistics.median(values) for key, values in rounds.items()}
    print(f"{args.rounds} interleaved rounds x {args.runs} inferences, 320x320, one thread each")
    for key, value in medians.items():
        ratio = medians["onnxruntime fp32"] / value
        print(f"  {key:18s} infer median {value * 1e3:7.2f} ms   speed vs onnxruntime fp32 {ratio:5.2f}x")
    for key in ("litert fp32",):  # INT8 changes the outputs: its boxes are not expected to match
        total = matched = 0
        for image in images:
            theirs, ours = base.predict(image), predictors[key].predict(image)
            total += len(theirs)
            assert isinstance(theirs, Detections) and isinstance(ours, Detections)
            matched += match_detections(theirs, ours, iou=0.95).matched
        print(f"  {key}: {matched}/{total} onnxruntime boxes matched at IoU >= 0.95, same class")
    for predictor in predictors.values():
        predictor.close()


if __name__ == "__main__":
    main()
