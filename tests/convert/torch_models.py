"""Small PyTorch models built by the tests, saved as TorchScript (script, trace) and .pt2."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

STRIDE = 8


class Detector(nn.Module):
    """A tiny anchor-free detector: output (1, 4 + nc, N) with cx, cy, w, h in input pixels."""

    def __init__(self, num_classes: int = 3, size: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.SiLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, 2, 1), nn.SiLU(),
        )  # fmt: skip
        self.head = nn.Conv2d(32, 4 + num_classes, 1)
        self.stride = float(STRIDE)
        nn.init.normal_(self.head.weight, std=8.0)  # spread the scores and box sizes
        cells = size // STRIDE
        ys, xs = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
        self.register_buffer("grid", torch.stack([xs, ys]).reshape(1, 2, -1).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.head(self.body(x)).flatten(2)  # (1, 4 + nc, N)
        xy = (self.grid + torch.sigmoid(p[:, :2])) * self.stride
        wh = torch.exp(p[:, 2:4].clamp(-3.0, 2.0)) * self.stride * 2
        return torch.cat([xy, wh, torch.sigmoid(p[:, 4:])], dim=1)


class Classifier(nn.Module):
    """A tiny classifier: (1, nc) probabilities."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(self.body(x)), dim=1)


def seeded(model_class: type[nn.Module], seed: int = 0) -> nn.Module:
    """A ``model_class()`` with torch's default initialisation under ``seed``, in eval mode."""
    torch.manual_seed(seed)
    return model_class().eval()


def save(model: nn.Module, kind: str, path: Path, size: int = 64) -> Path:
    """Write ``model`` as ``script`` / ``trace`` (torch.jit.save) or ``export`` (torch.export.save)."""
    example = torch.zeros(1, 3, size, size)
    if kind == "script":
        torch.jit.save(torch.jit.script(model), str(path))
    elif kind == "trace":
        torch.jit.save(torch.jit.trace(model, example), str(path))
    elif kind == "export":
        torch.export.save(torch.export.export(model, (example,)), str(path))
    else:
        raise ValueError(kind)
    return path


def _rewrite(path: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """Rewrite the zip at ``path`` member by member through ``change`` (None drops a member)."""
    with zipfile.ZipFile(path) as z:
        members = [(info.filename, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            new = change(name, data)
            if new is not None:
                z.writestr(name, new)
    return path


def _real(kind: str, suffix: str) -> Callable[[Path], Path]:
    return lambda folder: save(seeded(Detector), kind, folder / f"detector{suffix}")


def _short_tensor(folder: Path) -> Path:
    """A real TorchScript archive whose first tensor record holds 4 bytes."""
    return _rewrite(_real("trace", ".pt")(folder), lambda n, d: d[:4] if n.endswith("/data/0") else d)


def _lying_weight_shape(folder: Path) -> Path:
    """A real .pt2 whose weights config claims a 65536 x 65536 first weight."""

    def change(name: str, data: bytes) -> bytes:
        if not name.endswith("model_weights_config.json"):
            return data
        config = json.loads(data)
        first = next(iter(config["config"].values()))
        first["tensor_meta"]["sizes"] = [{"as_int": 65536}, {"as_int": 65536}, {"as_int": 3}, {"as_int": 3}]
        return json.dumps(config).encode()

    return _rewrite(_real("export", ".pt2")(folder), change)


def _saving_program(folder: Path) -> Path:
    """A real .pt2 whose first node calls aten::save instead of a convolution."""

    def change(name: str, data: bytes) -> bytes:
        if not name.endswith("models/model.json"):
            return data
        return data.replace(b"torch.ops.aten.conv2d.default", b"torch.ops.aten.save.default", 1)

    return _rewrite(_real("export", ".pt2")(folder), change)


def _cut_real(folder: Path) -> Path:
    path = _real("export", ".pt2")(folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _args(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda folder: [str(make(folder)), "--names", "a,b,c", "--imgsz", "64"]


HOSTILE = [
    ("real TorchScript, a tensor record cut to 4 bytes", _args(_short_tensor)),
    ("real .pt2 cut in half", _args(_cut_real)),
    ("real .pt2, weights config claiming 65536 x 65536 x 3 x 3", _args(_lying_weight_shape)),
    ("real .pt2, a node calling aten::save", _args(_saving_program)),
]
"""Crafted from real torch exports (needs torch): registered as ``pytorch-real`` in
``edgeloop.testing.hostile_models.HOSTILE``."""
