"""Fine-tuning: start a run from an earlier edgeloop model (``edgeloop train DATA --init RUN``).

The parent's class list comes first and classes only the new data names are
appended, so class ids the parent's users know keep their meaning. Every
weight whose shape matches is copied; the class-logit rows of the head (one
output channel per class, in the last 1x1 convolution of each detector head,
or one row of the classifier's linear layer) are copied by class name, and new
classes keep the fresh rows a new network starts with. Dataset class ids are
remapped to the merged list, whatever order the dataset names them in.

The schedule: a lower peak learning rate (``FINETUNE_LR``), the backbone
frozen (weights and batch-norm statistics) for the first ``freeze`` fraction
of the run, and a ``replay_share`` of each epoch's images drawn from the
parent's dataset so the old domain is not forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeloop.bundle import read_manifest, sha256_file
from edgeloop.data.dataset import Dataset, Item
from edgeloop.errors import BundleError, TrainError
from edgeloop.train import checkpoint
from edgeloop.train.augment import Sample
from edgeloop.train.config import TrainConfig
from edgeloop.train.model import Classifier, Detector

EXPORTED = "edgeloop train"  # how an exported bundle's provenance.source starts


def merge_names(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """``old`` in its order, then the names of ``new`` that ``old`` lacks, in ``new``'s order."""
    merged = list(old)
    merged += [name for name in new if name not in merged]
    return merged


def file_fingerprint(path: Path) -> str:
    """The first 16 hex digits of a file's sha256: how a child names its parent checkpoint."""
    return sha256_file(path)[:16]


def _onnx_import_error(path: Path) -> TrainError:
    return TrainError(
        f"{path} was imported from ONNX and has no training weights; train an edgeloop model on the "
        f"same data: edgeloop train DATA --out RUN (the gate decides which ships)"
    )


def _bundle_checkpoint(root: Path) -> Path:
    """The checkpoint an exported bundle came from, when its run folder is still where export found it."""
    try:
        manifest = read_manifest(root)
    except BundleError as exc:
        raise TrainError(f"--init {root}: {exc}") from None
    provenance = manifest.provenance
    source = (provenance.source if provenance else None) or ""
    if not source.startswith(EXPORTED):
        raise _onnx_import_error(root)
    extra = (provenance.model_extra if provenance else None) or {}
    run, digest = extra.get("run"), extra.get("checkpoint_sha256")
    candidates = [Path(run) / "weights" / name for name in (checkpoint.BEST, checkpoint.LAST)] if run else []
    for path in candidates:
        if path.is_file() and (digest is None or file_fingerprint(path) == str(digest)[:16]):
            return path
    where = f" (it was exported from {run})" if run else ""
    raise TrainError(
        f"--init {root}: a bundle carries no training weights and the run it was exported from is not "
        f"there{where}; pass that run folder or its weights/best.pt: edgeloop train DATA --init RUN"
    )


def resolve_init(path: str | Path) -> Path:
    """The checkpoint file ``--init`` names: a ``.pt``, a run folder, or an exported bundle.

    Raises:
        TrainError: nothing usable there, or a bundle imported from ONNX (no training weights).
    """
    path = Path(path)
    if path.is_file():
        if path.suffix in (".tar", ".onnx"):
            raise (
                _onnx_import_error(path)
                if path.suffix == ".onnx"
                else TrainError(
                    f"--init {path}: a packed bundle carries no training weights; pass the run folder it was "
                    f"exported from: edgeloop train DATA --init RUN"
                )
            )
        return path
    if (path / "bundle.json").is_file():
        return _bundle_checkpoint(path)
    if path.is_dir():
        return checkpoint.best_or_last(path)
    raise TrainError(
        f"--init {path}: not found; pass a run folder, its weights/best.pt, or an exported bundle"
    )


def load_init(path: str | Path) -> dict[str, Any]:
    """The checkpoint payload ``--init`` names (read with ``weights_only``), with ``parent`` set.

    ``payload["parent"]`` is the checkpoint file's fingerprint and ``payload["parent_path"]`` its path.

    Raises:
        TrainError: see :func:`resolve_init`; or the file is not an edgeloop checkpoint.
    """
    file = resolve_init(path)
    payload = checkpoint.load(file)
    return payload | {"parent": file_fingerprint(file), "parent_path": str(file)}


def remap(ds: Dataset, names: Sequence[str]) -> Dataset:
    """``ds`` with class ids pointing into ``names`` (which must hold every class of ``ds``)."""
    if tuple(ds.names) == tuple(names):
        return ds
    table = np.asarray([list(names).index(n) for n in ds.names], np.int64)
    items = []
    for item in ds.items:
        if item.detections is not None:
            d = item.detections
            moved = type(d)(d.xyxy, d.confidence, table[d.class_id].astype(np.int32), tuple(names))
            items.append(Item(item.image, item.name, item.size_wh, moved, item.label))
        else:
            label = None if item.label is None else int(table[item.label])
            items.append(Item(item.image, item.name, item.size_wh, item.detections, label))
    return Dataset(tuple(names), tuple(items), ds.task)


def _class_rows(model: nn.Module) -> list[str]:
    """State-dict keys whose first dimension is one row per class (Head.cls ends in its 1x1 conv)."""
    if isinstance(model, Detector):
        return [f"heads.{i}.cls.1.{p}" for i in range(len(model.heads)) for p in ("weight", "bias")]
    return ["fc.weight", "fc.bias"]


@torch.no_grad()
def transfer(model: nn.Module, parent: dict[str, Any], names: Sequence[str]) -> None:
    """Copy ``parent``'s weights into ``model`` (built for ``names``), class rows by name.

    Raises:
        TrainError: the parent is another task or network preset.
    """
    theirs: dict[str, torch.Tensor] = parent["model"]
    old = list(parent["names"])
    rows = set(_class_rows(model))
    state = model.state_dict()
    for key, value in state.items():
        if key not in theirs:
            raise TrainError(f"--init: the parent has no weight {key}; it is another kind of network")
        if key in rows:
            for new_index, name in enumerate(names):
                if name in old:
                    value[new_index].copy_(theirs[key][old.index(name)])
        elif theirs[key].shape != value.shape:
            raise TrainError(
                f"--init: weight {key} has shape {tuple(theirs[key].shape)}, not {tuple(value.shape)}"
            )
        else:
            value.copy_(theirs[key])


def backbone(model: nn.Module) -> list[nn.Module]:
    """The feature extractor's modules: frozen first while the neck and head adapt."""
    if isinstance(model, Detector):
        return [model.stem, model.stage3, model.stage4, model.stage5]
    assert isinstance(model, Classifier)
    return [model.body]


def set_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (no gradients, batch-norm statistics fixed) or release the backbone."""
    for module in backbone(model):
        module.train(not frozen and model.training)
        for p in module.parameters():
            p.requires_grad_(not frozen)


@dataclass
class Start:
    """What a fine-tuning run starts from: the merged class list, the parent payload and the config."""

    names: list[str]
    config: TrainConfig
    parent: dict[str, Any] | None  # None on --resume: last.pt has the weights
    parent_id: str | None

    @classmethod
    def open(cls, config: TrainConfig, data_names: Sequence[str], task: str, resume: bool) -> Start:
        """Load ``config.init`` (or, when resuming, take the run's own class list) and adopt its network.

        Raises:
            TrainError: the parent is another task, or ``--model`` contradicts it.
        """
        assert config.init is not None
        if resume:
            last = checkpoint.load(config.run_dir / "weights" / checkpoint.LAST)
            parent_id = last.get("parent")
            return cls(list(last["names"]), config, None, None if parent_id is None else str(parent_id))
        parent = load_init(config.init)
        parent_config = TrainConfig.model_validate(parent["config"])
        if parent["task"] != task:
            raise TrainError(f"--init {config.init} is a {parent['task']} model; the data is for {task}")
        given = config.model_fields_set
        if "model" in given and config.model != parent_config.model:
            raise TrainError(
                f"--init {config.init} is a {parent_config.model} network, not --model {config.model}; "
                f"drop --model (a fine-tune keeps the parent's network)"
            )
        update: dict[str, Any] = {"model": parent_config.model}
        if "imgsz" not in given:
            update["imgsz"] = parent_config.imgsz
        names = merge_names(parent["names"], data_names)
        if config.replay:
            names = merge_names(names, replay_dataset(config, task).names)
        return cls(names, config.model_copy(update=update), parent, str(parent["parent"]))


def describe(start: Start, data_names: Sequence[str]) -> str:
    """One line on what a fine-tuning run starts from, for the progress display."""
    cfg = start.config
    if start.parent is None:
        return f"fine-tuning from {cfg.init} (resumed)"
    old = list(start.parent["names"])
    new = [n for n in start.names if n not in old]
    unused = [n for n in old if n not in data_names]
    parts = [f"fine-tuning from {start.parent['parent_path']} ({start.parent_id}): {len(old)} classes kept"]
    parts.append(f"new: {', '.join(new)}" if new else "no new classes")
    if unused:
        parts.append(f"not in this data: {', '.join(unused)}")
    parts.append(f"lr {cfg.lr:g}, backbone frozen for the first {cfg.freeze:.0%}")
    return "; ".join(parts)


def replay_dataset(config: TrainConfig, task: str) -> Dataset:
    """The training images of ``config.replay`` (its train/ subset or split, as for DATA).

    Raises:
        TrainError: the folder is missing or holds another task's labels.
    """
    from edgeloop.train.split import train_val

    assert config.replay is not None
    if not Path(config.replay).exists():
        raise TrainError(f"--replay {config.replay}: not found; pass the earlier dataset folder")
    replay, _ = train_val(config.model_copy(update={"data": config.replay, "task": None}))
    if replay.task != task:
        raise TrainError(f"--replay {config.replay} is a {replay.task} dataset; this run trains {task}")
    return replay


def replay_count(train: int, replay: int, share: float) -> int:
    """Replay images per epoch so they are ``share`` of it (at most all of them)."""
    return min(replay, round(share * train / (1 - share))) if share > 0 else 0


def mix(train: list[Sample], replay: list[Sample], share: float, rng: np.random.Generator) -> list[Sample]:
    """One epoch's samples: all of ``train`` and a fresh random ``share`` drawn from ``replay``."""
    count = replay_count(len(train), len(replay), share)
    if not count:
        return train
    return train + [replay[i] for i in rng.choice(len(replay), count, replace=False)]
