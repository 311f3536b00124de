"""Small PyTorch models built by the tests, saved as TorchScript (script, trace) and .pt2."""

from __future__ import annotations

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
