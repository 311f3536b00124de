"""The larger published Darknet YOLO architectures as cfg text: YOLOv3, YOLOv4 and YOLOv7-tiny.

Layer for layer the published cfgs (training-only options left out); ``size`` and
``classes`` change no layer. Weights: ``darknet_models.write_model``.
"""

from __future__ import annotations

from edgeloop.testing.darknet_models import ANCHORS_FULL, Cfg

ANCHORS_V4 = "12,16, 19,36, 40,28, 36,75, 76,55, 72,146, 142,110, 192,243, 459,401"


def _residuals(c: Cfg, count: int, filters: int, inner: int, act: str) -> None:
    for _ in range(count):
        c.conv(inner, size=1, act=act)
        c.conv(filters, act=act)
        c.add("shortcut", **{"from": -3}, activation="linear")


def _head_stack(c: Cfg, filters: int, count: int = 3) -> None:
    """Alternating 1x1 (filters) and 3x3 (2 x filters) convs, ``count`` pairs minus the last 3x3."""
    for k in range(2 * count - 1):
        c.conv(filters if k % 2 == 0 else 2 * filters, size=1 if k % 2 == 0 else 3)


def yolov3_cfg(size: int = 416, classes: int = 80) -> str:
    """YOLOv3: Darknet-53 and three heads (107 layers, strides 32, 16, 8)."""
    c = Cfg(size, size)
    c.conv(32)
    for filters, blocks in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        c.conv(filters, stride=2)
        _residuals(c, blocks, filters, filters // 2, "leaky")
    _head_stack(c, 512)
    c.conv(1024)
    c.head(classes, "6,7,8", ANCHORS_FULL, 9)
    c.route(-4)
    c.conv(256, size=1)
    c.add("upsample", stride=2)
    c.route(-1, 61)
    _head_stack(c, 256)
    c.conv(512)
    c.head(classes, "3,4,5", ANCHORS_FULL, 9)
    c.route(-4)
    c.conv(128, size=1)
    c.add("upsample", stride=2)
    c.route(-1, 36)
    _head_stack(c, 128)
    c.conv(256)
    c.head(classes, "0,1,2", ANCHORS_FULL, 9)
    return c.text()


def _csp_stage(c: Cfg, filters: int, blocks: int, first: bool) -> None:
    """A CSPDarknet53 stage: downsample, split, residual blocks, merge (mish)."""
    half = filters if first else filters // 2
    c.conv(filters, stride=2, act="mish")
    c.conv(half, size=1, act="mish")
    c.route(-2)
    c.conv(half, size=1, act="mish")
    _residuals(c, blocks, half, filters // 2 if first else half, "mish")
    c.conv(half, size=1, act="mish")
    c.route(-1, -(3 * blocks + 4))
    c.conv(filters, size=1, act="mish")


def yolov4_cfg(size: int = 608, classes: int = 80) -> str:
    """YOLOv4: CSPDarknet53, SPP, PANet and three heads (162 layers, strides 8, 16, 32)."""
    c = Cfg(size, size)
    c.conv(32, act="mish")
    _csp_stage(c, 64, 1, first=True)
    for filters, blocks in ((128, 2), (256, 8), (512, 8), (1024, 4)):
        _csp_stage(c, filters, blocks, first=False)
    c.conv(512, size=1)
    c.conv(1024)
    c.conv(512, size=1)
    for k, pool in enumerate((5, 9, 13)):
        c.add("maxpool", stride=1, size=pool)
        if k < 2:
            c.route(-2 * k - 2)
    c.route(-1, -3, -5, -6)
    c.conv(512, size=1)
    c.conv(1024)
    c.conv(512, size=1)
    for filters, lateral in ((256, 85), (128, 54)):
        c.conv(filters, size=1)
        c.add("upsample", stride=2)
        c.route(lateral)
        c.conv(filters, size=1)
        c.route(-1, -3)
        _head_stack(c, filters)
    c.conv(256)
    c.head(classes, "0,1,2", ANCHORS_V4, 9, scale_x_y=1.2)
    for filters, back, scale, mask in ((256, -16, 1.1, "3,4,5"), (512, -37, 1.05, "6,7,8")):
        c.route(-4)
        c.conv(filters, stride=2)
        c.route(-1, back)
        _head_stack(c, filters)
        c.conv(2 * filters)
        c.head(classes, mask, ANCHORS_V4, 9, scale_x_y=scale)
    return c.text()


def _elan_tiny(c: Cfg, filters: int) -> int:
    """YOLOv7-tiny's ELAN block: two 1x1 branches, two 3x3, concat of four, 1x1 (index returned)."""
    c.conv(filters, size=1)
    c.route(-2)
    c.conv(filters, size=1)
    c.conv(filters)
    c.conv(filters)
    c.route(-5, -3, -2, -1)
    return c.conv(2 * filters, size=1)


def yolov7_tiny_cfg(size: int = 416, classes: int = 80) -> str:
    """YOLOv7-tiny (99 layers; logistic heads decoded with new_coords=1 and scale_x_y 2)."""
    c = Cfg(size, size)
    c.conv(32, stride=2)
    c.conv(64, stride=2)
    stages = [_elan_tiny(c, 32)]
    for filters in (64, 128, 256):
        c.add("maxpool", size=2, stride=2)
        stages.append(_elan_tiny(c, filters))
    c.conv(256, size=1)  # SPPCSP
    c.route(-2)
    c.conv(256, size=1)
    for k, pool in enumerate((5, 9, 13)):
        c.add("maxpool", stride=1, size=pool)
        if k < 2:
            c.route(-2 * k - 2)
    c.route(-1, -3, -5, -6)
    c.conv(256, size=1)
    c.route(-10, -1)
    spp = c.conv(256, size=1)
    lateral = spp
    ups = []
    for filters, skip in ((128, stages[2]), (64, stages[1])):
        c.conv(filters, size=1)
        c.add("upsample", stride=2)
        c.route(skip)
        c.conv(filters, size=1)
        c.route(-1, -3)
        lateral = _elan_tiny(c, filters // 2)
        ups.append(lateral)
    outs = [lateral]
    for filters, skip in ((128, ups[0]), (256, spp)):
        c.conv(filters, stride=2)
        c.route(-1, skip)
        outs.append(_elan_tiny(c, filters // 2))
    for k, (layer, filters) in enumerate(zip(outs, (128, 256, 512), strict=True)):
        c.route(layer)
        c.conv(filters)
        mask = ",".join(str(3 * k + j) for j in range(3))
        c.head(classes, mask, ANCHORS_FULL, 9, act="logistic", scale_x_y=2.0, new_coords=1)
    return c.text()
