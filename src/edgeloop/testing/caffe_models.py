"""Caffe test models written by edgeloop itself: a prototxt (text format) and a ``.caffemodel``
(binary protocol buffers), with seeded random weights.

``mobilenet_ssd`` follows the published MobileNet-SSD deploy architecture (chuanqi305:
a MobileNet v1 trunk at 300x300, extra layers conv14..conv17, six SSD heads with PriorBox
and a DetectionOutput); ``classifier`` is a small conv / BN / Scale / pool / InnerProduct /
Softmax network. Weights are scaled so activations stay near unit size and the SSD's class
scores are far from flat, so a fair number of boxes pass the confidence threshold.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgeloop.testing.caffe_writer import CaffeNet, Enum, Fields

# MobileNet v1 trunk: (depthwise stride, pointwise output channels) for conv1..conv13.
TRUNK = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + [(1, 512)] * 5 + [(2, 1024), (1, 1024)]
# The extra layers: (name, 1x1 channels, 3x3 stride-2 channels).
EXTRAS = [("conv14", 256, 512), ("conv15", 128, 256), ("conv16", 128, 256), ("conv17", 64, 128)]
STEPS = [16.0, 32.0, 64.0, 100.0, 150.0, 300.0]  # explicit PriorBox steps of the variant
# The six heads: (source blob, channels, min_size, max_size or None, aspect ratios).
HEADS = [
    ("conv11", 512, 60.0, None, [2.0]),
    ("conv13", 1024, 105.0, 150.0, [2.0, 3.0]),
    ("conv14_2", 512, 150.0, 195.0, [2.0, 3.0]),
    ("conv15_2", 256, 195.0, 240.0, [2.0, 3.0]),
    ("conv16_2", 256, 240.0, 285.0, [2.0, 3.0]),
    ("conv17_2", 128, 285.0, 300.0, [2.0, 3.0]),
]


def mobilenet_ssd(
    folder: Path,
    num_classes: int = 4,
    seed: int = 0,
    width: float = 1.0,
    confidence_threshold: float = 0.25,
    variant: bool = False,
) -> tuple[Path, Path]:
    """Write ``mobilenet_ssd.prototxt`` / ``.caffemodel`` (``num_classes`` includes the background).

    ``width`` scales every channel count (1.0 is the published network). ``variant`` exercises
    the PriorBox options the published network leaves at their defaults: explicit ``step``,
    ``clip``, an ``offset`` off centre and no ``flip``; and it is written in the merged form of
    the published ``MobileNetSSD_deploy.prototxt`` (BatchNorm folded into biased convolutions,
    training-only ``param``, filler and ``engine`` fields left in).
    """
    net = CaffeNet("MobileNet-SSD", (300, 300), np.random.default_rng(seed), merged=variant)

    def ch(c: int) -> int:
        return max(8, int(c * width))

    x = net.bn_scale_relu(net.conv("conv0", "data", 3, ch(32), 3, stride=2), ch(32))
    cin = ch(32)
    for i, (stride, cout) in enumerate(TRUNK, start=1):
        x = net.bn_scale_relu(net.conv(f"conv{i}/dw", x, cin, cin, 3, stride=stride, group=cin), cin)
        x = net.bn_scale_relu(net.conv(f"conv{i}", x, cin, ch(cout), 1), ch(cout))
        cin = ch(cout)
    for name, mid, out in EXTRAS:
        x = net.bn_scale_relu(net.conv(f"{name}_1", x, cin, ch(mid), 1), ch(mid))
        x = net.bn_scale_relu(net.conv(f"{name}_2", x, ch(mid), ch(out), 3, stride=2), ch(out))
        cin = ch(out)
    locs: list[str] = []
    confs: list[str] = []
    priors: list[str] = []
    for source, channels, min_size, max_size, ratios in HEADS:
        count = 1 + (1 if max_size else 0) + (1 if variant else 2) * len(ratios)
        for kind, per, gain in (("loc", 4, 0.35), ("conf", num_classes, 2.5)):
            name = f"{source}_mbox_{kind}"
            net.conv(name, source, ch(channels), count * per, 1, pad=0, bias=True, gain=gain)
            net.add(
                f"{name}_perm",
                "Permute",
                [name],
                [f"{name}_perm"],
                ("permute_param", [("order", o) for o in (0, 2, 3, 1)]),
            )
            net.add(
                f"{name}_flat",
                "Flatten",
                [f"{name}_perm"],
                [f"{name}_flat"],
                ("flatten_param", [("axis", 1)]),
            )
            (locs if kind == "loc" else confs).append(f"{name}_flat")
        param: Fields = [("min_size", min_size)] + ([("max_size", max_size)] if max_size else [])
        param += [("aspect_ratio", r) for r in ratios] + [("flip", not variant), ("clip", variant)]
        param += [("variance", v) for v in (0.1, 0.1, 0.2, 0.2)] + [("offset", 0.4 if variant else 0.5)]
        if variant:
            param.append(("step", STEPS[len(priors)]))
        priors.append(
            net.add(
                f"{source}_mbox_priorbox",
                "PriorBox",
                [source, "data"],
                [f"{source}_mbox_priorbox"],
                ("prior_box_param", param),
            )
        )
    net.add("mbox_loc", "Concat", locs, ["mbox_loc"], ("concat_param", [("axis", 1)]))
    net.add("mbox_conf", "Concat", confs, ["mbox_conf"], ("concat_param", [("axis", 1)]))
    _calibrate(net, [f"{source}_mbox_conf" for source, *_ in HEADS], num_classes, confidence_threshold)
    net.add("mbox_priorbox", "Concat", priors, ["mbox_priorbox"], ("concat_param", [("axis", 2)]))
    net.add("mbox_conf_reshape", "Reshape", ["mbox_conf"], ["mbox_conf_reshape"],
            ("reshape_param", [("shape", [("dim", 0), ("dim", -1), ("dim", num_classes)])]))  # fmt: skip
    net.add(
        "mbox_conf_softmax",
        "Softmax",
        ["mbox_conf_reshape"],
        ["mbox_conf_softmax"],
        ("softmax_param", [("axis", 2)]),
    )
    net.add(
        "mbox_conf_flatten",
        "Flatten",
        ["mbox_conf_softmax"],
        ["mbox_conf_flatten"],
        ("flatten_param", [("axis", 1)]),
    )
    detection: Fields = [
        ("num_classes", num_classes),
        ("share_location", True),
        ("background_label_id", 0),
        ("nms_param", [("nms_threshold", 0.45), ("top_k", 100)]),
        ("code_type", Enum("CENTER_SIZE")),
        ("keep_top_k", 100),
        ("confidence_threshold", confidence_threshold),
    ]
    bottoms = ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox"]
    net.add(
        "detection_out", "DetectionOutput", bottoms, ["detection_out"], ("detection_output_param", detection)
    )
    return net.write(folder, "mobilenet_ssd")


def classifier(folder: Path, num_classes: int = 5, seed: int = 0, size: int = 64) -> tuple[Path, Path]:
    """Write ``classifier.prototxt`` / ``.caffemodel`` (``classifier_net``)."""
    return classifier_net(num_classes, seed, size).write(folder, "classifier")


def classifier_net(num_classes: int = 5, seed: int = 0, size: int = 64) -> CaffeNet:
    """A small classifier: conv / BN / Scale / ReLU, max pool (Caffe ceil rounding), depthwise conv,
    PReLU, SSD's Normalize, average pool with padding, Dropout, InnerProduct, Softmax."""
    net = CaffeNet("classifier", (size, size), np.random.default_rng(seed))
    x = net.bn_scale_relu(net.conv("conv1", "data", 3, 16, 3, stride=2), 16)
    x = net.add(
        "pool1",
        "Pooling",
        [x],
        ["pool1"],
        ("pooling_param", [("pool", Enum("MAX")), ("kernel_size", 3), ("stride", 2)]),
    )
    x = net.bn_scale_relu(net.conv("conv2/dw", x, 16, 16, 3, group=16), 16)
    x = net.bn_scale_relu(net.conv("conv2", x, 16, 32, 1, bias=True), 32, relu=False)
    net.weights["conv2/prelu"] = [net.rng.uniform(0.05, 0.3, 32).astype(np.float32)]
    x = net.add("conv2/prelu", "PReLU", [x], ["conv2/prelu"])
    net.weights["conv2/norm"] = [net.rng.uniform(2.0, 6.0, 32).astype(np.float32)]
    norm: Fields = [("across_spatial", False), ("channel_shared", False)]
    x = net.add("conv2/norm", "Normalize", [x], ["conv2/norm"], ("norm_param", norm))
    ave: Fields = [("pool", Enum("AVE")), ("kernel_size", 3), ("stride", 2), ("pad", 1)]
    x = net.add("pool2", "Pooling", [x], ["pool2"], ("pooling_param", ave))
    x = net.add("drop", "Dropout", [x], [x], ("dropout_param", [("dropout_ratio", 0.5)]))
    flat = 32 * _side(size) ** 2
    net.weights["fc"] = [net.rng.normal(0, np.sqrt(1.0 / flat), (num_classes, flat)).astype(np.float32) * 3,
                         net.rng.normal(0, 0.1, num_classes).astype(np.float32)]  # fmt: skip
    x = net.add("fc", "InnerProduct", [x], ["fc"], ("inner_product_param", [("num_output", num_classes)]))
    net.add("prob", "Softmax", [x], ["prob"])
    return net


def _side(size: int) -> int:
    """The spatial size before the classifier's InnerProduct (conv s2, max pool ceil, avg pool)."""
    a = (size + 2 - 3) // 2 + 1
    b = -(-(a - 3) // 2) + 1
    return -(-(b + 2 - 3) // 2) + 1


def _calibrate(
    net: CaffeNet, heads: list[str], num_classes: int, threshold: float, target: int = 120
) -> None:
    """Raise the background logit of every prior (as training would) until about ``target``
    (prior, class) pairs of a synthetic scene score above ``threshold``: random weights otherwise
    give anything from a handful to thousands of candidates, depending on the seed."""
    import onnxruntime as ort

    from edgeloop.convert.caffe.build import build
    from edgeloop.convert.caffe.net import read_net
    from edgeloop.convert.caffe.weights import CaffeWeights
    from edgeloop.convert.samples import synthetic_image

    with tempfile.TemporaryDirectory() as tmp:
        prototxt, weights = net.write(Path(tmp), "calibrate")
        reader = CaffeWeights(weights)
        try:
            built = build(read_net(prototxt.read_text(encoding="utf-8")), reader)
        finally:
            reader.close()
    session = ort.InferenceSession(built.onnx, providers=["CPUExecutionProvider"])
    image = synthetic_image(net.input_hw, seed=7).astype(np.float32)
    tensor = ((image - 127.5) * 0.007843).transpose(2, 0, 1)[None]
    outputs = dict(zip(built.outputs, session.run(None, {built.input_name: tensor}), strict=True))
    logits = outputs["mbox_conf"].reshape(-1, num_classes)
    low, high = -20.0, 40.0
    for _ in range(40):
        shift = (low + high) / 2
        z = logits.copy()
        z[:, 0] += shift
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        low, high = (shift, high) if int((p[:, 1:] > threshold).sum()) > target else (low, shift)
    for name in heads:
        net.weights[name][1].reshape(-1, num_classes)[:, 0] += np.float32((low + high) / 2)
