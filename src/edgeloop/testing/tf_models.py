"""Small TensorFlow models built in the reference environment (``.venv-refs``) for tests.

``build_tf_models(folder)`` writes, with seeded weights:

- ``detector/`` SavedModel and ``detector.pb`` (frozen graph; ``detector_two_inputs.pb`` adds
  a second placeholder) of a conv net whose output
  ``output`` is the ``yolo`` layout [1, 4 + 3, 64]: cx, cy, w, h in input pixels (64x64 NHWC
  input), then 3 sigmoid class scores; ``detector.tflite`` (FP32), ``detector_int8.tflite``
  (full-integer, int8 input and output, representative dataset), ``detector_uint8.tflite``
  (the same with uint8 input and output) and ``detector.onnx``
  (tf2onnx from the SavedModel);
- ``classifier/`` SavedModel, ``classifier.pb`` and ``classifier.tflite`` (FP32): [1, 32, 32, 3]
  -> softmax over 5 classes.

Models are ``tf.Module`` objects with a ``tf.function`` signature (tf2onnx's Keras 3 path is
broken). The detector's SavedModel and FP32 ``.tflite`` alone are a little quicker:
``build_tf_models(folder, only_tflite=True)``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edgeloop.testing.refs import refs_python

DETECTOR_NAMES = ("a", "b", "c")
CLASSIFIER_NAMES = ("k0", "k1", "k2", "k3", "k4")

SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
import tensorflow as tf

out = Path(sys.argv[1]); only_tflite = sys.argv[2] == "1"
rng = np.random.default_rng(17)

def var(*shape, scale=0.3):
    return tf.Variable(rng.normal(0, scale, shape).astype(np.float32))

class Detector(tf.Module):
    def __init__(self):
        super().__init__()
        self.w1, self.b1 = var(3, 3, 3, 8), var(8, scale=0.1)
        self.w2, self.b2 = var(3, 3, 8, 16), var(16, scale=0.1)
        self.w3, self.b3 = var(3, 3, 16, 16), var(16, scale=0.1)
        self.wh, self.bh = var(1, 1, 16, 7), var(7, scale=0.1)
        gy, gx = np.meshgrid(np.arange(8, dtype=np.float32), np.arange(8, dtype=np.float32), indexing="ij")
        self.grid = tf.constant(np.stack([gx.reshape(-1), gy.reshape(-1)], 1)[None])  # [1, 64, 2]

    @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32, name="images")])
    def __call__(self, images):
        x = tf.nn.relu(tf.nn.conv2d(images, self.w1, 2, "SAME") + self.b1)
        x = tf.nn.relu(tf.nn.conv2d(x, self.w2, 2, "SAME") + self.b2)
        x = tf.nn.relu(tf.nn.conv2d(x, self.w3, 2, "SAME") + self.b3)
        h = tf.reshape(tf.nn.conv2d(x, self.wh, 1, "SAME") + self.bh, [1, 64, 7]) * 0.25
        xy = (self.grid + tf.sigmoid(h[:, :, 0:2])) * 8.0
        wh = tf.sigmoid(h[:, :, 2:4]) * 32.0 + 4.0
        scores = tf.sigmoid(h[:, :, 4:7])
        return {"output": tf.transpose(tf.concat([xy, wh, scores], 2), [0, 2, 1])}

class Classifier(tf.Module):
    def __init__(self):
        super().__init__()
        self.w1, self.b1 = var(3, 3, 3, 8), var(8, scale=0.1)
        self.wd, self.bd = var(8, 5, scale=1.0), var(5, scale=0.1)

    @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32, name="pixels")])
    def __call__(self, pixels):
        x = tf.nn.relu(tf.nn.conv2d(pixels, self.w1, 2, "SAME") + self.b1)
        x = tf.reduce_mean(x, axis=[1, 2])
        return {"probs": tf.nn.softmax(tf.matmul(x, self.wd) * 4.0 + self.bd)}

def save(module, name):
    folder = out / name
    fn = module.__call__.get_concrete_function()
    tf.saved_model.save(module, str(folder), signatures=fn)
    if not only_tflite:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
        frozen = convert_variables_to_constants_v2(fn)
        graph_def = frozen.graph.as_graph_def()
        (out / f"{name}.pb").write_bytes(graph_def.SerializeToString())
        extra = graph_def.node.add()  # a second placeholder nothing reads, as training graphs have
        extra.name, extra.op = "training", "Placeholder"
        extra.attr["dtype"].type = tf.bool.as_datatype_enum
        (out / f"{name}_two_inputs.pb").write_bytes(graph_def.SerializeToString())
    return folder

det = save(Detector(), "detector")
(out / "detector.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(det)).convert())
if not only_tflite:
    cls = save(Classifier(), "classifier")
    (out / "classifier.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(cls)).convert())
    def representative():
        for _ in range(16):
            yield [rng.uniform(0, 1, (1, 64, 64, 3)).astype(np.float32)]
    conv = tf.lite.TFLiteConverter.from_saved_model(str(det))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (out / "detector_int8.tflite").write_bytes(conv.convert())
    conv.inference_input_type = tf.uint8  # raw image bytes in, as Coral-style models take them
    conv.inference_output_type = tf.uint8
    (out / "detector_uint8.tflite").write_bytes(conv.convert())
    import tf2onnx
    from tf2onnx import tf_loader
    graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
        str(det), None, None, return_tensors_to_rename=True)
    tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs, opset=13,
        tensors_to_rename=renames, output_path=str(out / "detector.onnx"))
print("ok")
"""


def refs_env(src: Path | None = None) -> dict[str, str]:
    """A quiet environment for the reference interpreter; ``src`` goes on PYTHONPATH (this checkout)."""
    env = {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",  # else a notice on stderr at import, whatever the level
        "PATH": "/usr/bin:/bin",
        "CUDA_VISIBLE_DEVICES": "",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def build_tf_models(folder: Path, only_tflite: bool = False) -> Path:
    """Write the test models into ``folder`` (see the module doc); returns ``folder``.

    Raises:
        RuntimeError: the reference script failed (its stderr in the message).
    """
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(refs_python()), "-c", SCRIPT, str(folder), "1" if only_tflite else "0"],
        capture_output=True,
        text=True,
        timeout=600,
        env=refs_env(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"building TensorFlow test models failed: {result.stderr[-3000:]}")
    return folder
