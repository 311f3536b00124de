"""Synthetic ONNX models for the output-family registry's tests (onnx helper API, no torch).

- ``export_layout_detector``: the output layout ``edgeloop export`` writes (torch's
  exporter leaves the class axis symbolic: ['batch', 'Transposeoutput0_dim_1', N])
  and its Ultralytics-style metadata (names, imgsz, stride, task).
- ``text_detector``: a model that is no YOLO model, shaped like the PP-OCR text
  detector: (B, 3, H, W) in, (B, 1, H, W) probabilities out, batch, height and
  width all dynamic, no metadata.
- ``embedder``: a model whose input is no image: (B, 16) features -> (B, 8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
YOLO_STRIDES = (8, 16, 32)


def _save(graph: onnx.GraphProto, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def export_layout_detector(
    path: str | Path, imgsz: int = 224, names: tuple[str, ...] = ("a", "b", "c")
) -> Path:
    """A (B, 4 + nc, N) anchor-free detector declared as ['batch', 'Transposeoutput0_dim_1', N].

    N is the anchor count of strides 8, 16 and 32 (1029 at 224). Each anchor's
    values are average-pooled pixels, repeated to 4 + nc channels: meaningless
    boxes and scores, but real tensors that every decoder step can run on.
    """
    nc = len(names)
    channels = 4 + nc
    repeats = -(-channels // 3)
    init = [
        numpy_helper.from_array(np.array([0, 3, -1], np.int64), "flat"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([channels], np.int64), "channels"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], np.int64), "last"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
    ]
    anchors = sum((-(-imgsz // s)) ** 2 for s in YOLO_STRIDES)
    init.append(numpy_helper.from_array(np.zeros((1, 1, anchors), np.float32), "no_offset"))
    nodes = []
    for s in YOLO_STRIDES:
        nodes += [
            helper.make_node("AveragePool", ["images"], [f"p{s}"], kernel_shape=[s, s], strides=[s, s]),
            helper.make_node("Reshape", [f"p{s}", "flat"], [f"r{s}"]),
        ]
    nodes += [
        helper.make_node("Concat", [f"r{s}" for s in YOLO_STRIDES], ["cells"], axis=2),  # (B, 3, N)
        helper.make_node("Concat", ["cells"] * repeats, ["wide"], axis=1),
        helper.make_node("Slice", ["wide", "zero", "channels", "axis1"], ["head"]),
        # A reshape to a shape computed at run time, so shape inference (like torch's
        # exporter on edgeloop's head) cannot tell the class axis: it stays symbolic.
        helper.make_node("Shape", ["head"], ["head_shape"]),
        helper.make_node("Gather", ["head_shape", "zero"], ["batch_dim"], axis=0),
        helper.make_node("Gather", ["head_shape", "last"], ["anchor_dim"], axis=0),
        helper.make_node("Concat", ["batch_dim", "minus_one", "anchor_dim"], ["target"], axis=0),
        helper.make_node("Reshape", ["head", "target"], ["reshaped"]),
        helper.make_node("Add", ["reshaped", "no_offset"], ["output0"]),  # (1, 1, N): fixes the anchor axis
    ]
    graph = helper.make_graph(
        nodes,
        "export_layout_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, imgsz, imgsz])],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, ["batch", "Transposeoutput0_dim_1", anchors]
            )
        ],
        init,
    )
    metadata = {
        "author": "edgeloop",
        "task": "detect",
        "stride": "32",
        "imgsz": f"[{imgsz}, {imgsz}]",
        "names": str(dict(enumerate(names))),
    }
    return _save(graph, path, metadata)


def text_detector(path: str | Path) -> Path:
    """(B, 3, H, W) float -> (B, 1, H, W) sigmoid of a 3x3 convolution; B, H and W dynamic."""
    rng = np.random.default_rng(0)
    init = [
        numpy_helper.from_array(rng.standard_normal((1, 3, 3, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(np.zeros(1, np.float32), "B"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["logits"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "text_detector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        init,
    )
    return _save(graph, path)


def embedder(path: str | Path) -> Path:
    """(B, 16) float features -> (B, 8) float embedding (a matrix product)."""
    weight = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "W"], ["embedding"])],
        "embedder",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 8])],
        [numpy_helper.from_array(weight, "W")],
    )
    return _save(graph, path)
