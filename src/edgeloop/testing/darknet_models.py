"""Darknet cfgs of published YOLO architectures and seeded random ``.weights`` for them.

The layer structures follow the published cfgs (YOLOv3-tiny, YOLOv4-tiny here; YOLOv3,
YOLOv4 and YOLOv7-tiny in ``darknet_zoo``); tests pick a small input size and class count,
which changes no layer. The weights are random but sane: positive batch-norm variances,
kernels scaled by fan-in so activations stay in range, and (``write_model``) each head's
logits scaled to a fixed spread with the objectness bias set so that a few percent of the
cells score above the usual thresholds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeloop.convert.darknet.cfg import parse_cfg
from edgeloop.convert.darknet.layers import build_network

ANCHORS_TINY = "10,14, 23,27, 37,58, 81,82, 135,169, 344,319"
ANCHORS_FULL = "10,13, 16,30, 33,23, 30,61, 62,45, 59,119, 116,90, 156,198, 373,326"


class Cfg:
    """A cfg written layer by layer; ``index`` is the next layer's Darknet index."""

    def __init__(self, width: int, height: int) -> None:
        self.parts = [f"[net]\nbatch=1\nsubdivisions=1\nwidth={width}\nheight={height}\nchannels=3\n"]
        self.index = 0

    def add(self, kind: str, **options: object) -> int:
        lines = "".join(f"{k}={v}\n" for k, v in options.items())
        self.parts.append(f"[{kind}]\n{lines}")
        self.index += 1
        return self.index - 1

    def conv(self, filters: int, size: int = 3, stride: int = 1, act: str = "leaky", bn: bool = True) -> int:
        bn_line = {"batch_normalize": 1} if bn else {}
        return self.add(
            "convolutional", **bn_line, filters=filters, size=size, stride=stride, pad=1, activation=act
        )

    def route(self, *layers: int, **options: object) -> int:
        return self.add("route", layers=",".join(map(str, layers)), **options)

    def head(
        self, classes: int, mask: str, anchors: str, num: int, act: str = "linear", **options: object
    ) -> int:
        self.conv(len(mask.split(",")) * (5 + classes), size=1, act=act, bn=False)
        return self.add("yolo", mask=mask, anchors=anchors, classes=classes, num=num, **options)

    def text(self) -> str:
        return "\n".join(self.parts)


def yolov3_tiny_cfg(size: int = 416, classes: int = 80) -> str:
    """YOLOv3-tiny (24 layers, heads at strides 32 and 16)."""
    c = Cfg(size, size)
    for i, filters in enumerate((16, 32, 64, 128, 256, 512)):
        c.conv(filters)
        c.add("maxpool", size=2, stride=1 if i == 5 else 2)
    c.conv(1024)
    c.conv(256, size=1)
    c.conv(512)
    c.head(classes, "3,4,5", ANCHORS_TINY, 6)
    c.route(-4)
    c.conv(128, size=1)
    c.add("upsample", stride=2)
    c.route(-1, 8)
    c.conv(256)
    c.head(classes, "0,1,2", ANCHORS_TINY, 6)
    return c.text()


def _csp_tiny_block(c: Cfg, filters: int) -> None:
    """YOLOv4-tiny's CSP block: conv, half the channels through two convs, concat, 1x1, concat, pool."""
    c.conv(filters)
    c.route(-1, groups=2, group_id=1)
    c.conv(filters // 2)
    c.conv(filters // 2)
    c.route(-1, -2)
    c.conv(filters, size=1)
    c.route(-6, -1)


def yolov4_tiny_cfg(size: int = 416, classes: int = 80) -> str:
    """YOLOv4-tiny (38 layers, heads at strides 32 and 16, scale_x_y 1.05)."""
    c = Cfg(size, size)
    c.conv(32, stride=2)
    c.conv(64, stride=2)
    c.conv(64)
    c.route(-1, groups=2, group_id=1)
    c.conv(32)
    c.conv(32)
    c.route(-1, -2)
    c.conv(64, size=1)
    c.route(-6, -1)
    c.add("maxpool", size=2, stride=2)
    _csp_tiny_block(c, 128)
    c.add("maxpool", size=2, stride=2)
    _csp_tiny_block(c, 256)  # layer 23 is its 1x1 conv, routed to the second head
    c.add("maxpool", size=2, stride=2)
    c.conv(512)
    c.conv(256, size=1)
    c.conv(512)
    c.head(classes, "3,4,5", ANCHORS_TINY, 6, scale_x_y=1.05)
    c.route(-4)
    c.conv(128, size=1)
    c.add("upsample", stride=2)
    c.route(-1, 23)
    c.conv(256)
    c.head(classes, "1,2,3", ANCHORS_TINY, 6, scale_x_y=1.05)
    return c.text()


def random_weights(cfg_text: str, path: Path, seed: int = 0, objectness: float = -1.0) -> Path:
    """Write seeded random ``.weights`` (header version 0.2.0, int64 ``seen``) for ``cfg_text``.

    Kernels are normal with std sqrt(2 / fan-in), sqrt(1 / fan-in) for the convs that feed a
    [yolo] layer and sqrt(0.1 / fan-in) for those that feed a [shortcut] (so that the residual
    sums of YOLOv3/v4 do not grow the activations a hundredfold); batch-norm scales and
    variances near 1 (variances positive); the objectness bias of each head is ``objectness``.
    """
    network = build_network(parse_cfg(cfg_text))
    rng = np.random.default_rng(seed)
    feeds_head = {layer.inputs[0] for layer in network.layers if layer.kind in ("yolo",)}
    feeds_sum = {layer.inputs[0] for layer in network.layers if layer.kind == "shortcut"}
    chunks: list[np.ndarray] = [
        np.array([0, 2, 0], "<i4").view(np.uint8),
        np.array([0], "<i8").view(np.uint8),
    ]
    for layer in network.layers:
        if layer.kind != "convolutional":
            continue
        n = layer.filters
        fan_in = network.shape_of(layer.inputs[0])[0] // layer.groups * layer.size * layer.size
        gain = 1.0 if layer.index in feeds_head else (0.1 if layer.index in feeds_sum else 2.0)
        bias = rng.normal(0.0, 0.1, n).astype(np.float32)
        if layer.index in feeds_head:
            per = 5 + network.layers[layer.index + 1].classes
            bias[4::per] = objectness
        parts = [bias]
        if layer.batch_normalize:
            parts += [
                rng.uniform(0.8, 1.2, n).astype(np.float32),  # scales
                rng.normal(0.0, 0.1, n).astype(np.float32),  # rolling mean
                rng.uniform(0.8, 1.2, n).astype(np.float32),  # rolling variance
            ]
        count = n * fan_in
        parts.append(rng.standard_normal(count, dtype=np.float32) * np.float32(np.sqrt(gain / fan_in)))
        chunks += [p.astype("<f4").view(np.uint8) for p in parts]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for chunk in chunks:
            f.write(chunk.tobytes())
    return path


HEAD_SPREAD = {"xy": 1.0, "wh": 0.5, "objectness": 2.0, "classes": 1.5}
"""The standard deviation each kind of head logit is scaled to by ``calibrate_heads``."""


def _row_kinds(per: int, rows: int) -> dict[str, np.ndarray]:
    kind = np.arange(rows) % per
    return {"xy": kind < 2, "wh": (kind >= 2) & (kind < 4), "objectness": kind == 4, "classes": kind >= 5}


def calibrate_heads(cfg: Path, weights: Path, fraction: float = 0.03, seed: int = 0) -> None:
    """Rescale each logit row of each head in ``weights`` (its 1x1 kernel rows) to ``HEAD_SPREAD``
    on a synthetic image, centre it (bias), and shift the objectness bias so that about
    ``fraction`` of the anchor cells have objectness above 0.5. Random weights otherwise give
    logits of any scale (saturated sigmoids, every box at confidence 1) and anything from no
    box to every cell."""
    import onnxruntime as ort

    from edgeloop.convert.darknet.graph import build_onnx
    from edgeloop.convert.darknet.weights import header_size, read_weights
    from edgeloop.convert.samples import synthetic_image

    network = build_network(parse_cfg(cfg.read_text(encoding="utf-8")))
    model = build_onnx(network, read_weights(weights, network), weights.with_suffix(".calib.onnx"), "test")
    image = synthetic_image((network.height, network.width), seed=seed)[:, :, ::-1]
    tensor = np.ascontiguousarray(image.transpose(2, 0, 1)[None], np.float32) / 255
    maps = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"images": tensor})
    model.unlink()
    offset, _ = header_size(weights)
    data = np.fromfile(weights, dtype="<f4", offset=offset)
    pos = 0
    for layer in network.layers:
        if layer.kind != "convolutional":
            continue
        nxt = network.layers[layer.index + 1] if layer.index + 1 < len(network.layers) else None
        if nxt is not None and nxt.kind == "yolo":
            n, in_c = layer.filters, network.shape_of(layer.inputs[0])[0]
            raw = maps[network.yolo_layers().index(nxt)][0].reshape(n, -1).astype(np.float64)
            if layer.activation == "logistic":
                raw = np.log(np.clip(raw, 1e-7, 1 - 1e-7) / (1 - np.clip(raw, 1e-7, 1 - 1e-7)))
            bias = data[pos : pos + n].astype(np.float64)
            kernel = data[pos + n : pos + n * (1 + in_c)].reshape(n, in_c)  # the head is a 1x1 conv
            for kind, rows in _row_kinds(5 + nxt.classes, n).items():
                for r in np.flatnonzero(rows):  # each row (anchor, value) on its own
                    part = raw[r] - bias[r]  # the kernel's share of the logits
                    scale = HEAD_SPREAD[kind] / max(float(part.std()), 1e-6)
                    kernel[r] *= np.float32(scale)
                    # centred (box offsets at the cell centre, sizes at the anchor's, classes balanced);
                    # objectness: the top ``fraction`` of cells above 0.5
                    bias[r] = -np.quantile(scale * part, 1 - fraction if kind == "objectness" else 0.5)
            data[pos : pos + n] = bias.astype(np.float32)
        pos += layer.param_count(network.shape_of(layer.inputs[0])[0])
    with weights.open("r+b") as f:
        f.seek(offset)
        f.write(data.astype("<f4").tobytes())


def write_model(
    folder: Path, name: str, cfg_text: str, seed: int = 0, fraction: float = 0.03
) -> tuple[Path, Path]:
    """``NAME.cfg`` and ``NAME.weights`` in ``folder``, heads calibrated (``calibrate_heads``)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / f"{name}.cfg"
    cfg.write_text(cfg_text, encoding="utf-8")
    weights = random_weights(cfg_text, folder / f"{name}.weights", seed)
    calibrate_heads(cfg, weights, fraction, seed)
    return cfg, weights


def darknet_bundle(folder: Path, names: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """A small YOLOv4-tiny bundle (64x64, random calibrated weights) imported from Darknet files,
    for tests that need a ``yolo-anchors`` bundle; its folder."""
    from edgeloop.convert import ConvertOptions, convert_model

    cfg, weights = write_model(folder / "darknet", "yolov4-tiny", yolov4_tiny_cfg(64, len(names)), seed=1)
    options = ConvertOptions(weights=weights, names=list(names), check=False)
    return convert_model(cfg, folder / "bundle", options).root
