"""Synthetic ONNX models built with the ``onnx`` helper API (no torch, no downloads).

- ``colour_detector``: a tiny model with real, predictable behaviour: each
  red, green or blue rectangle in the (letterboxed) input becomes one box of
  that class, its edges snapped to the ``stride`` grid. Every cell of a
  region predicts the region's box (so NMS has duplicates to merge); the
  NMS-free layout keeps only each region's top-left cell. It exists in the
  three YOLO output layouts (``yolo``, ``yolo-e2e``, ``yolov5``) and as a
  classifier, with Ultralytics-style metadata, so the whole inference path
  can be tested against known answers.
- ``random_yolo``: a yolo11n-sized network (3.4 M parameters, YOLO11n's CPU
  latency at 640 here) with random weights, a top-down neck and YOLOv8-style
  DFL heads, for benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

COLOURS = ["red", "green", "blue"]
OPSET = 17


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _metadata(
    model: onnx.ModelProto,
    names: list[str],
    imgsz: tuple[int, int],
    stride: int,
    task: str,
    end2end: bool | None,
) -> None:
    props = {
        "description": "edgeloop synthetic model",
        "task": task,
        "stride": str(stride),
        "imgsz": str(list(imgsz)),
        "names": str(dict(enumerate(names))),
    }
    if end2end is not None:
        props["end2end"] = str(end2end)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _save(
    graph: onnx.GraphProto,
    path: Path,
    names: list[str],
    imgsz: tuple[int, int],
    stride: int,
    task: str,
    end2end: bool | None,
    metadata: bool,
) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    if metadata:
        _metadata(model, names, imgsz, stride, task, end2end)
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _region_nodes(init: list[onnx.TensorProto], h: int, w: int, stride: int) -> list[onnx.NodeProto]:
    """ "cell_scores" (1, 3, h, w) -> "boxes" (1, 4, h, w) cx cy w h, and "is_top_left" (1, 3, h, w).

    A cell of colour c gets the box spanned by the run of colour-c cells through
    it, horizontally and vertically (for a rectangle: the rectangle). The runs'
    ends come from max-pools whose window covers everything on one side: the
    nearest non-colour cell to the left of i is max(x where not colour, x <= i).
    """
    xs = np.arange(w, dtype=np.float32).reshape(1, 1, 1, w)
    ys = np.arange(h, dtype=np.float32).reshape(1, 1, h, 1)
    init += [
        _const("xs", xs),
        _const("xs1", xs + 1),
        _const("w_minus_xs", w - xs),
        _const("ys", ys),
        _const("ys1", ys + 1),
        _const("h_minus_ys", h - ys),
        _const("half", np.array(0.5, np.float32)),
        _const("one", np.array(1.0, np.float32)),
        _const("w_const", np.array(float(w), np.float32)),
        _const("h_const", np.array(float(h), np.float32)),
        _const("stride_px", np.array(float(stride), np.float32)),
        _const("half_stride", np.array(stride / 2, np.float32)),
        _const("class_axis", np.array([1], np.int64)),
    ]

    def node(op: str, inputs: list[str], output: str, **attrs: object) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [output], **attrs)

    def pool(src: str, out: str, kernel: list[int], pads: list[int]) -> onnx.NodeProto:
        return node("MaxPool", [src], out, kernel_shape=kernel, pads=pads, strides=[1, 1])

    nodes = [
        node("Greater", ["cell_scores", "half"], "mask_b"),
        node("Cast", ["mask_b"], "mask", to=TensorProto.FLOAT),
        node("Sub", ["one", "mask"], "zero"),
        # where(not colour, x, -1) and where(not colour, -x, -w); likewise for y
        node("Mul", ["zero", "xs1"], "l0"),
        node("Sub", ["l0", "one"], "l_src"),
        node("Mul", ["zero", "w_minus_xs"], "r0"),
        node("Sub", ["r0", "w_const"], "r_src"),
        node("Mul", ["zero", "ys1"], "t0"),
        node("Sub", ["t0", "one"], "t_src"),
        node("Mul", ["zero", "h_minus_ys"], "b0"),
        node("Sub", ["b0", "h_const"], "b_src"),
        pool("l_src", "l_last", [1, w], [0, w - 1, 0, 0]),
        pool("r_src", "r_first_neg", [1, w], [0, 0, 0, w - 1]),
        pool("t_src", "t_last", [h, 1], [h - 1, 0, 0, 0]),
        pool("b_src", "b_first_neg", [h, 1], [0, 0, h - 1, 0]),
        node("Add", ["l_last", "one"], "x1c"),  # first cell of the run
        node("Neg", ["r_first_neg"], "x2c"),  # one past its last cell
        node("Add", ["t_last", "one"], "y1c"),
        node("Neg", ["b_first_neg"], "y2c"),
        node("Equal", ["x1c", "xs"], "at_left"),
        node("Equal", ["y1c", "ys"], "at_top"),
        node("And", ["at_left", "at_top"], "corner_b"),
        node("Cast", ["corner_b"], "corner", to=TensorProto.FLOAT),
        node("Mul", ["corner", "mask"], "is_top_left"),
    ]
    # Box terms per class, then the cell's own colour's (mask is one-hot or all zero).
    terms = (
        ("cx2", "Add", "x1c", "x2c"),
        ("cy2", "Add", "y1c", "y2c"),
        ("wc", "Sub", "x2c", "x1c"),
        ("hc", "Sub", "y2c", "y1c"),
    )
    for name, op, a, b in terms:
        nodes += [
            node(op, [a, b], f"{name}_all"),
            node("Mul", [f"{name}_all", "mask"], f"{name}_mine"),
            node("ReduceSum", [f"{name}_mine", "class_axis"], f"{name}_sum", keepdims=1),
        ]
    nodes += [
        node("Mul", ["cx2_sum", "half_stride"], "cx"),
        node("Mul", ["cy2_sum", "half_stride"], "cy"),
        node("Mul", ["wc_sum", "stride_px"], "bw"),
        node("Mul", ["hc_sum", "stride_px"], "bh"),
        node("Concat", ["cx", "cy", "bw", "bh"], "boxes", axis=1),
    ]
    return nodes


def colour_detector(
    path: str | Path,
    imgsz: tuple[int, int] = (640, 640),
    stride: int = 32,
    family: str = "yolo",
    metadata: bool = True,
    dynamic_batch: bool = False,
) -> Path:
    """Write the colour-region detector (or classifier, ``family="classify"``) to ``path``.

    A cell scores ~1 for a colour when its mean is that pure colour, and under
    0.01 on grey (the letterbox padding and neutral backgrounds).
    ``dynamic_batch`` (``yolo`` family only) makes the batch axis dynamic.
    """
    if dynamic_batch and family != "yolo":
        raise ValueError("dynamic_batch is only available for the 'yolo' family")
    batch: int | str = "batch" if dynamic_batch else 1
    h, w = imgsz[0] // stride, imgsz[1] // stride
    k = 20.0
    weight = np.full((3, 3, 1, 1), -k / 2, np.float32)
    for c in range(3):
        weight[c, c] = k
    init = [_const("W", weight), _const("B", np.full(3, -6.0, np.float32))]
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, imgsz[0], imgsz[1]])
    if family == "classify":
        nodes = [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Conv", ["pooled", "W", "B"], ["logits4"]),
            helper.make_node("Flatten", ["logits4"], ["logits"]),
        ]
        y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])
        graph = helper.make_graph(nodes, "colour_classifier", [x], [y], init)
        return _save(graph, Path(path), COLOURS, imgsz, stride, "classify", None, metadata)
    n = h * w
    init += [_const("shape", np.array([-1 if dynamic_batch else 1, 7, n], np.int64))]
    nodes = [
        helper.make_node(
            "AveragePool",
            ["images"],
            ["pooled"],
            kernel_shape=[stride, stride],
            strides=[stride, stride],
        ),
        helper.make_node("Conv", ["pooled", "W", "B"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["cell_scores"]),
        *_region_nodes(init, h, w, stride),
    ]
    if family == "yolo-e2e":  # one cell per region: the model does its own de-duplication
        nodes.append(helper.make_node("Mul", ["cell_scores", "is_top_left"], ["scores"]))
    else:
        nodes.append(helper.make_node("Mul", ["cell_scores", "mask"], ["scores"]))
    nodes += [
        helper.make_node("Concat", ["boxes", "scores"], ["grid"], axis=1),
        helper.make_node("Reshape", ["grid", "shape"], ["raw"]),  # (1, 7, n): cx cy w h s0 s1 s2
    ]
    if family == "yolo":
        nodes[-1].output[0] = "output0"
        y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 7, n])
    elif family == "yolov5":
        init += [_const("split", np.array([4, 3], np.int64))]
        nodes += [
            helper.make_node("Split", ["raw", "split"], ["xywh", "cls"], axis=1),
            helper.make_node("ReduceMax", ["cls"], ["obj"], axes=[1], keepdims=1),
            helper.make_node("Concat", ["xywh", "obj", "cls"], ["v5"], axis=1),
            helper.make_node("Transpose", ["v5"], ["output0"], perm=[0, 2, 1]),
        ]
        y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, n, 8])
    elif family == "yolo-e2e":
        nodes += _end_to_end_nodes(init, n, min(300, n))
        y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, min(300, n), 6])
    else:
        raise ValueError(f"unknown family '{family}'")
    graph = helper.make_graph(nodes, f"colour_detector_{family}", [x], [y], init)
    return _save(
        graph,
        Path(path),
        COLOURS,
        imgsz,
        stride,
        "detect",
        True if family == "yolo-e2e" else None,
        metadata,
    )


def _end_to_end_nodes(init: list[onnx.TensorProto], n: int, k: int) -> list[onnx.NodeProto]:
    """(1, 7, n) raw cells -> (1, k, 6) x1 y1 x2 y2 score class, best k first."""
    init += [
        _const("split2", np.array([2, 2, 3], np.int64)),
        _const("e2e_half", np.array(0.5, np.float32)),
        _const("k", np.array([k], np.int64)),
        _const("out_shape", np.array([1, k, 6], np.int64)),
        _const("axis0", np.array([0], np.int64)),
        _const("axis1", np.array([1], np.int64)),
    ]
    return [
        helper.make_node("Squeeze", ["raw", "axis0"], ["cells"]),  # (7, n)
        helper.make_node("Transpose", ["cells"], ["rows"], perm=[1, 0]),  # (n, 7)
        helper.make_node("Split", ["rows", "split2"], ["cxy", "wh", "cls"], axis=1),
        helper.make_node("Mul", ["wh", "e2e_half"], ["half_wh"]),
        helper.make_node("Sub", ["cxy", "half_wh"], ["xy1"]),
        helper.make_node("Add", ["cxy", "half_wh"], ["xy2"]),
        helper.make_node("ReduceMax", ["cls"], ["score"], axes=[1], keepdims=1),
        helper.make_node("ArgMax", ["cls"], ["label_i"], axis=1, keepdims=1),
        helper.make_node("Cast", ["label_i"], ["label"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["xy1", "xy2", "score", "label"], ["dets"], axis=1),  # (n, 6)
        helper.make_node("Squeeze", ["score", "axis1"], ["score_flat"]),
        helper.make_node("TopK", ["score_flat", "k"], ["top_v", "top_i"], largest=1, sorted=1),
        helper.make_node("Gather", ["dets", "top_i"], ["top"], axis=0),
        helper.make_node("Reshape", ["top", "out_shape"], ["output0"]),
    ]


def _conv(
    nodes: list[onnx.NodeProto],
    init: list[onnx.TensorProto],
    rng: np.random.Generator,
    x: str,
    name: str,
    cin: int,
    cout: int,
    k: int,
    stride: int,
    act: bool = True,
    bias: float = 0.0,
    gain: float = 1.0,
) -> str:
    std = gain * np.sqrt(2.0 / (cin * k * k))
    init += [
        _const(f"{name}.w", (rng.standard_normal((cout, cin, k, k)) * std).astype(np.float32)),
        _const(f"{name}.b", np.full(cout, bias, np.float32)),
    ]
    out = f"{name}.y"
    nodes.append(
        helper.make_node(
            "Conv",
            [x, f"{name}.w", f"{name}.b"],
            [out],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
        )
    )
    if not act:
        return out
    nodes += [
        helper.make_node("Sigmoid", [out], [f"{name}.s"]),
        helper.make_node("Mul", [out, f"{name}.s"], [f"{name}.a"]),
    ]  # SiLU
    return f"{name}.a"


def _dfl_head(
    nodes: list[onnx.NodeProto],
    init: list[onnx.TensorProto],
    rng: np.random.Generator,
    feat: str,
    c: int,
    i: int,
    side: int,
    stride: int,
    num_classes: int,
    class_bias: float,
) -> str:
    """A YOLOv8-style decoupled head for one level -> (1, 4 + nc, side * side).

    Box branch: two 3x3 convs, 4 x 16 distance bins, softmax, expected value
    (DFL), then left/top/right/bottom distances to cx, cy, w, h in pixels.
    Class branch: two 3x3 convs and sigmoid scores.
    """
    n = side * side
    box_c, cls_c = 64, max(num_classes, 64)
    b = _conv(nodes, init, rng, feat, f"hb{i}a", c, box_c, 3, 1)
    b = _conv(nodes, init, rng, b, f"hb{i}b", box_c, box_c, 3, 1)
    b = _conv(nodes, init, rng, b, f"hb{i}c", box_c, 64, 1, 1, act=False)
    k = _conv(nodes, init, rng, feat, f"hc{i}a", c, cls_c, 3, 1)
    k = _conv(nodes, init, rng, k, f"hc{i}b", cls_c, cls_c, 3, 1)
    # Logits spread ~1.4 with bias -7, so a realistic few anchors pass a 0.25 threshold.
    k = _conv(nodes, init, rng, k, f"hc{i}c", cls_c, num_classes, 1, 1, act=False, bias=class_bias, gain=40.0)
    gy, gx = np.mgrid[0:side, 0:side].astype(np.float32)
    centres = np.stack([(gx + 0.5).ravel(), (gy + 0.5).ravel()])[None] * stride  # (1, 2, n)
    init += [
        _const(f"bins_shape{i}", np.array([1, 4, 16, n], np.int64)),
        _const(f"bins{i}", np.arange(16, dtype=np.float32).reshape(1, 1, 16, 1)),
        _const(f"bins_axis{i}", np.array([2], np.int64)),
        _const(f"centres{i}", centres.astype(np.float32)),
        _const(f"stride{i}", np.array(float(stride), np.float32)),
        _const(f"half{i}", np.array(0.5, np.float32)),
        _const(f"split{i}", np.array([2, 2], np.int64)),
        _const(f"cls_shape{i}", np.array([1, num_classes, n], np.int64)),
    ]
    nodes += [
        helper.make_node("Reshape", [b, f"bins_shape{i}"], [f"dfl{i}.r"]),
        helper.make_node("Softmax", [f"dfl{i}.r"], [f"dfl{i}.p"], axis=2),
        helper.make_node("Mul", [f"dfl{i}.p", f"bins{i}"], [f"dfl{i}.w"]),
        helper.make_node("ReduceSum", [f"dfl{i}.w", f"bins_axis{i}"], [f"dfl{i}.d"], keepdims=0),
        helper.make_node("Mul", [f"dfl{i}.d", f"stride{i}"], [f"dist{i}"]),  # (1, 4, n) l t r b
        helper.make_node("Split", [f"dist{i}", f"split{i}"], [f"lt{i}", f"rb{i}"], axis=1),
        helper.make_node("Sub", [f"rb{i}", f"lt{i}"], [f"shift{i}"]),
        helper.make_node("Mul", [f"shift{i}", f"half{i}"], [f"shift{i}.h"]),
        helper.make_node("Add", [f"centres{i}", f"shift{i}.h"], [f"cxy{i}"]),
        helper.make_node("Add", [f"lt{i}", f"rb{i}"], [f"wh{i}"]),
        helper.make_node("Reshape", [k, f"cls_shape{i}"], [f"cls{i}.r"]),
        helper.make_node("Sigmoid", [f"cls{i}.r"], [f"cls{i}.p"]),
        helper.make_node("Concat", [f"cxy{i}", f"wh{i}", f"cls{i}.p"], [f"lvl{i}"], axis=1),
    ]
    return f"lvl{i}"


def random_yolo(
    path: str | Path,
    imgsz: int = 640,
    num_classes: int = 80,
    seed: int = 0,
    class_bias: float = -7.0,
    width: float = 1.0,
) -> Path:
    """Write a yolo11n-sized random detector with a (1, 4 + nc, N) anchor-free output.

    Backbone of strided 3x3 convs, a top-down neck (upsample + concat), and
    YOLOv8-style decoupled DFL heads on strides 8, 16 and 32: about the
    parameters, operator mix and CPU latency of YOLO11n, with random weights.
    ``width`` scales the backbone and neck channels (multiples of 8), for
    models of other sizes with the same structure.
    """
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    init: list[onnx.TensorProto] = []

    def ch(c: int) -> int:
        return max(8, round(c * width / 8) * 8)

    x = _conv(nodes, init, rng, "images", "stem", 3, ch(16), 3, 2)
    x = _conv(nodes, init, rng, x, "d1", ch(16), ch(32), 3, 2)
    x = _conv(nodes, init, rng, x, "c1", ch(32), ch(32), 3, 1)
    feats = []
    channels = ch(32)
    for level, cout in enumerate([ch(64), ch(128), ch(256)]):
        x = _conv(nodes, init, rng, x, f"d{level + 2}", channels, cout, 3, 2)
        for j in range(2):
            x = _conv(nodes, init, rng, x, f"b{level}_{j}", cout, cout, 3, 1)
        feats.append(x)
        channels = cout
    init.append(_const("up_scales", np.array([1, 1, 2, 2], np.float32)))
    necks = [feats[2]]
    for level, (c_low, c_high) in ((1, (ch(128), ch(256))), (0, (ch(64), ch(128)))):
        up = f"up{level}"
        nodes.append(helper.make_node("Resize", [necks[0], "", "up_scales"], [up], mode="nearest"))
        nodes.append(helper.make_node("Concat", [up, feats[level]], [f"cat{level}"], axis=1))
        necks.insert(0, _conv(nodes, init, rng, f"cat{level}", f"n{level}", c_low + c_high, c_low, 3, 1))
    parts = [
        _dfl_head(nodes, init, rng, feat, c, i, imgsz // stride, stride, num_classes, class_bias)
        for i, (feat, c, stride) in enumerate(
            zip(necks, (ch(64), ch(128), ch(256)), (8, 16, 32), strict=True)
        )
    ]
    nodes.append(helper.make_node("Concat", parts, ["output0"], axis=2))
    n = sum((imgsz // s) ** 2 for s in (8, 16, 32))
    graph = helper.make_graph(
        nodes,
        "random_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + num_classes, n])],
        init,
    )
    names = [f"class{i}" for i in range(num_classes)]
    return _save(graph, Path(path), names, (imgsz, imgsz), 32, "detect", None, True)
