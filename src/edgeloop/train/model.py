"""Compact detector and classifier networks, built for fast CPU training.

The detector is anchor-free: a small CSP backbone, a path-aggregation neck and
one decoupled head per stride (8, 16, 32). Boxes are regressed as distributions
over ``reg_max`` bins of left/top/right/bottom distances (in strides); classes
as independent logits. ``DetectorExport`` turns the raw head into the ``yolo``
family wire format every edgeloop decoder reads: (B, 4 + nc, N) rows of
cx, cy, w, h in input pixels, then sigmoid class scores.

Plain 3x3 convolutions throughout: on CPUs they train several times faster
per FLOP than depthwise ones and quantize well to INT8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Preset:
    """Channel widths (stem, stage 1..4), blocks per stage, head width and activation."""

    widths: tuple[int, int, int, int, int]
    depth: int
    head: int
    act: str = "silu"


PRESETS: dict[str, Preset] = {
    "nano": Preset((16, 32, 48, 64, 96), 1, 32),
    "small": Preset((24, 48, 96, 128, 192), 2, 64),
    # Made for INT8: ReLU fuses into ONNX Runtime's integer convolutions, where SiLU runs as
    # separate QLinearSigmoid + QLinearMul steps, and wider late stages give the integer
    # kernels enough work to outweigh the quantize/dequantize steps (docs/optimizing.md).
    "edge": Preset((16, 32, 64, 96, 128), 1, 48, "relu"),
}


def _activation(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.SiLU(inplace=True)


class ConvBN(nn.Sequential):
    """Convolution, batch norm and SiLU (or ReLU)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1, act: str = "silu") -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03),
            _activation(act),
        )


class Bottleneck(nn.Module):
    """Two 3x3 convolutions with a residual connection."""

    def __init__(self, c: int, act: str = "silu") -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBN(c, c, act=act), ConvBN(c, c, act=act))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class CSP(nn.Module):
    """Split into two halves, run bottlenecks on one, concatenate every step, fuse with 1x1."""

    def __init__(self, c_in: int, c_out: int, depth: int, act: str = "silu") -> None:
        super().__init__()
        half = c_out // 2
        self.split = ConvBN(c_in, 2 * half, 1, act=act)
        self.blocks = nn.ModuleList(Bottleneck(half, act) for _ in range(depth))
        self.fuse = ConvBN((2 + depth) * half, c_out, 1, act=act)

    def forward(self, x: Tensor) -> Tensor:
        parts = list(self.split(x).chunk(2, 1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.fuse(torch.cat(parts, 1))


class Head(nn.Module):
    """Box-distribution and class branches for one stride, sharing a first 3x3 convolution."""

    def __init__(
        self, c_in: int, width: int, num_classes: int, reg_max: int, stride: int, act: str = "silu"
    ) -> None:
        super().__init__()
        self.shared = ConvBN(c_in, width, act=act)
        self.box = nn.Sequential(ConvBN(width, width, act=act), nn.Conv2d(width, 4 * reg_max, 1))
        self.cls = nn.Sequential(ConvBN(width, width, act=act), nn.Conv2d(width, num_classes, 1))
        box_out = self.box[-1]
        cls_out = self.cls[-1]
        assert isinstance(box_out, nn.Conv2d) and isinstance(cls_out, nn.Conv2d)
        assert box_out.bias is not None and cls_out.bias is not None
        nn.init.zeros_(box_out.bias)
        # Start confident in nothing: about 5 objects expected per 640x640 image.
        nn.init.constant_(cls_out.bias, math.log(5 / num_classes / (640 / stride) ** 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.shared(x)
        return self.box(x), self.cls(x)


class Detector(nn.Module):
    """Anchor-free detector; ``forward`` returns raw (B, N, 4*reg_max) and (B, N, nc) logits."""

    def __init__(self, num_classes: int, preset: str = "nano", reg_max: int = 16) -> None:
        super().__init__()
        p = PRESETS[preset]
        c0, c1, c2, c3, c4 = p.widths
        d, a = p.depth, p.act
        self.num_classes = num_classes
        self.reg_max = reg_max
        # No block at stride 4: objects worth detecting span several stride-8 cells.
        self.stem = nn.Sequential(ConvBN(3, c0, 3, 2, act=a), ConvBN(c0, c1, 3, 2, act=a))
        self.stage3 = nn.Sequential(ConvBN(c1, c2, 3, 2, act=a), CSP(c2, c2, d, a))
        self.stage4 = nn.Sequential(ConvBN(c2, c3, 3, 2, act=a), CSP(c3, c3, d, a))
        self.stage5 = nn.Sequential(ConvBN(c3, c4, 3, 2, act=a), CSP(c4, c4, d, a))
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.top4 = CSP(c4 + c3, c3, d, a)
        self.top3 = CSP(c3 + c2, c2, d, a)
        self.down3 = ConvBN(c2, c2, 3, 2, act=a)
        self.bottom4 = CSP(c2 + c3, c3, d, a)
        self.down4 = ConvBN(c3, c3, 3, 2, act=a)
        self.bottom5 = CSP(c3 + c4, c4, d, a)
        self.heads = nn.ModuleList(
            Head(c, p.head, num_classes, reg_max, s, a) for c, s in zip((c2, c3, c4), STRIDES, strict=True)
        )

    def features(self, x: Tensor) -> list[Tensor]:
        """Neck outputs at strides 8, 16 and 32."""
        p3 = self.stage3(self.stem(x))
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        t4 = self.top4(torch.cat((self.up(p5), p4), 1))
        n3 = self.top3(torch.cat((self.up(t4), p3), 1))
        n4 = self.bottom4(torch.cat((self.down3(n3), t4), 1))
        n5 = self.bottom5(torch.cat((self.down4(n4), p5), 1))
        return [n3, n4, n5]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        boxes, scores = [], []
        for head, feature in zip(self.heads, self.features(x), strict=True):
            box, cls = head(feature)
            boxes.append(box.flatten(2))
            scores.append(cls.flatten(2))
        return torch.cat(boxes, 2).transpose(1, 2), torch.cat(scores, 2).transpose(1, 2)


def anchor_points(size_hw: tuple[int, int], device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Cell centres (N, 2) in input pixels and their strides (N, 1), in head order."""
    points, strides = [], []
    for s in STRIDES:
        h, w = size_hw[0] // s, size_hw[1] // s
        ys, xs = torch.meshgrid(
            torch.arange(h, device=device, dtype=torch.float32),
            torch.arange(w, device=device, dtype=torch.float32),
            indexing="ij",
        )
        points.append(torch.stack(((xs.flatten() + 0.5) * s, (ys.flatten() + 0.5) * s), 1))
        strides.append(torch.full((h * w, 1), float(s), device=device))
    return torch.cat(points), torch.cat(strides)


def distribution_to_ltrb(box_logits: Tensor, reg_max: int) -> Tensor:
    """(B, N, 4*reg_max) logits -> (B, N, 4) expected distances in strides."""
    b, n, _ = box_logits.shape
    probs = box_logits.view(b, n, 4, reg_max).softmax(-1)
    bins = torch.arange(reg_max, device=box_logits.device, dtype=probs.dtype)
    return probs @ bins


def ltrb_to_xyxy(ltrb: Tensor, points: Tensor, strides: Tensor) -> Tensor:
    """Distances in strides around cell centres -> (B, N, 4) xyxy pixels."""
    d = ltrb * strides
    return torch.cat((points - d[..., :2], points + d[..., 2:]), -1)


class DetectorExport(nn.Module):
    """Wraps a ``Detector`` to emit the ``yolo`` family layout: (B, 4 + nc, N)."""

    def __init__(self, model: Detector, size_hw: tuple[int, int]) -> None:
        super().__init__()
        self.model = model
        points, strides = anchor_points(size_hw)
        self.points: Tensor
        self.strides: Tensor
        self.register_buffer("points", points)
        self.register_buffer("strides", strides)

    def forward(self, x: Tensor) -> Tensor:
        box_logits, cls_logits = self.model(x)
        ltrb = distribution_to_ltrb(box_logits, self.model.reg_max) * self.strides
        centre = self.points + (ltrb[..., 2:] - ltrb[..., :2]) / 2
        size = ltrb[..., :2] + ltrb[..., 2:]
        return torch.cat((centre, size, cls_logits.sigmoid()), -1).transpose(1, 2)


class Classifier(nn.Module):
    """Small image classifier: the detector's backbone, pooled, then a linear layer."""

    def __init__(self, num_classes: int, preset: str = "nano") -> None:
        super().__init__()
        p = PRESETS[preset]
        c0, c1, c2, c3, c4 = p.widths
        d, a = p.depth, p.act
        self.num_classes = num_classes
        self.body = nn.Sequential(
            ConvBN(3, c0, 3, 2, act=a),
            ConvBN(c0, c1, 3, 2, act=a),
            CSP(c1, c1, d, a),
            ConvBN(c1, c2, 3, 2, act=a),
            CSP(c2, c2, d, a),
            ConvBN(c2, c3, 3, 2, act=a),
            CSP(c3, c3, d, a),
            ConvBN(c3, c4, 3, 2, act=a),
            CSP(c4, c4, d, a),
            ConvBN(c4, 4 * c4 // 2, 1, act=a),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * c4 // 2, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.body(x)).flatten(1))


class ClassifierExport(nn.Module):
    """Wraps a ``Classifier`` to emit probabilities (B, nc)."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).softmax(-1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
