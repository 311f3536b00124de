"""Checkpoints: plain state dicts and JSON-able settings, read back with ``weights_only=True``.

``best.pt`` and ``last.pt`` hold the EMA weights a bundle is exported from;
``last.pt`` also holds the raw weights and optimizer state that ``--resume``
needs. Files are written to a temporary name and renamed, so a crash or
Ctrl-C never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeloop.errors import TrainError
from edgeloop.train.config import TrainConfig
from edgeloop.train.model import Classifier, Detector

BEST = "best.pt"
LAST = "last.pt"


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects.

    Raises:
        TrainError: missing, truncated, or not an edgeloop checkpoint.
    """
    if not path.is_file():
        raise TrainError(f"{path}: checkpoint not found; train first (edgeloop train DATA --out RUN)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or hostile files
        raise TrainError(f"{path}: not a readable edgeloop checkpoint ({exc}); re-run training") from None
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise TrainError(f"{path}: not an edgeloop checkpoint; point at a run folder made by edgeloop train")
    return payload


def best_or_last(run: Path) -> Path:
    """``best.pt`` of a run folder, or ``last.pt`` when training stopped before the first validation."""
    weights = run / "weights"
    for name in (BEST, LAST):
        if (weights / name).is_file():
            return weights / name
    raise TrainError(f"{run}: no checkpoint in {weights}; train first (edgeloop train DATA --out {run})")


def build_model(task: str, num_classes: int, preset: str) -> Detector | Classifier:
    """A fresh network for ``task``."""
    return Detector(num_classes, preset) if task == "detect" else Classifier(num_classes, preset)


def restore(payload: dict[str, Any]) -> tuple[Detector | Classifier, TrainConfig, list[str], str]:
    """The EMA network of a checkpoint, its config, class names and task."""
    config = TrainConfig.model_validate(payload["config"])
    names = list(payload["names"])
    task = str(payload["task"])
    model = build_model(task, len(names), config.model)
    model.load_state_dict(payload["model"])
    return model.eval(), config, names, task


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``model``'s state."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
