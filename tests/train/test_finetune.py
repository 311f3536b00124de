"""Fine-tuning from an edgeloop model: class merge, weight copy, frozen backbone, replay, lineage."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

pytest.importorskip("torch")

import torch

from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import DOMAIN_B, synth_detection
from edgeloop.errors import TrainError
from edgeloop.train import checkpoint, finetune
from edgeloop.train.augment import Sample
from edgeloop.train.config import FINETUNE_FREEZE, FINETUNE_LR, TrainConfig
from edgeloop.train.loop import Progress, Trainer

TINY = {"imgsz": 64, "batch": 8, "threads": 1, "mosaic": 0.0}
PARENT_NAMES = ["square", "circle", "triangle"]
CHILD_NAMES = ("circle", "star", "square")  # reordered, one new class, one parent class missing


def _data(root: Path, seed: int, names: tuple[str, ...], domain: object = None) -> Path:
    kwargs = {"domain": domain} if domain is not None else {}
    synth_detection(root / "train", 16, 64, seed=seed, classes=names, **kwargs)  # type: ignore[arg-type]
    synth_detection(root / "val", 4, 64, seed=seed + 100, classes=names, **kwargs)  # type: ignore[arg-type]
    return root


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained for one epoch on three shapes."""
    root = tmp_path_factory.mktemp("parent")
    data = _data(root / "data", 1, tuple(PARENT_NAMES))
    Trainer(TrainConfig(data=str(data), out=str(root / "run"), epochs=1, **TINY)).fit()
    return root / "run"


@pytest.fixture(scope="module")
def child_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _data(tmp_path_factory.mktemp("child") / "data", 7, CHILD_NAMES, DOMAIN_B)


def test_merge_names_keeps_the_parent_order_and_appends_new_ones() -> None:
    assert finetune.merge_names(["a", "b", "c"], ["c", "d", "a", "e"]) == ["a", "b", "c", "d", "e"]
    assert finetune.merge_names(["a", "b"], ["b", "a"]) == ["a", "b"]
    assert finetune.merge_names([], ["x"]) == ["x"]


def test_init_defaults_apply_only_when_the_flags_are_unset() -> None:
    fresh = TrainConfig(data="d", out="o")
    assert (fresh.lr, fresh.freeze) == (0.002, 0.0)
    tuned = TrainConfig(data="d", out="o", init="run")
    assert (tuned.lr, tuned.freeze) == (FINETUNE_LR, FINETUNE_FREEZE)
    assert TrainConfig(data="d", out="o", init="run", lr=0.001, freeze=0).lr == 0.001
    with pytest.raises(
        ValidationError, match="--replay mixes an earlier dataset into a fine-tune and needs --init"
    ):
        TrainConfig(data="d", out="o", replay="old")


def test_classes_merge_by_name_and_weights_start_as_the_parent(
    parent: Path, child_data: Path, tmp_path: Path
) -> None:
    payload = checkpoint.load(parent / "weights" / "best.pt")
    old_model, _, old_names, _ = checkpoint.restore(payload)
    assert old_names == PARENT_NAMES
    trainer = Trainer(
        TrainConfig(data=str(child_data), out=str(tmp_path / "run"), init=str(parent), threads=1)
    )
    assert trainer.names == ["square", "circle", "triangle", "star"]
    assert trainer.config.imgsz == 64 and trainer.config.model == "nano"  # the parent's, not the defaults
    # Dataset ids now point into the merged list: the same class names per box as on disk.
    on_disk = load_dataset(child_data / "train")
    for theirs, ours in zip(on_disk.items, trainer.train_ds.items, strict=True):
        assert theirs.detections is not None and ours.detections is not None
        assert [on_disk.names[c] for c in theirs.detections.class_id] == [
            trainer.names[c] for c in ours.detections.class_id
        ]
    # The starting network predicts exactly what the parent does: boxes, and old classes by name.
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        old_box, old_cls = old_model.eval()(x)
        new_box, new_cls = trainer.ema_model.eval()(x)
    assert torch.allclose(old_box, new_box, atol=1e-6)
    for index, name in enumerate(PARENT_NAMES):
        assert torch.allclose(new_cls[..., trainer.names.index(name)], old_cls[..., index], atol=1e-6)
    star = new_cls[..., 3]
    assert not any(torch.allclose(star, old_cls[..., i]) for i in range(3))  # a fresh row


def _backbone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{i}.{k}": v.clone()
        for i, m in enumerate(finetune.backbone(model))
        for k, v in m.state_dict().items()
    }


def test_freeze_keeps_backbone_weights_and_statistics_during_the_frozen_part(
    parent: Path, child_data: Path, tmp_path: Path
) -> None:
    snapshots: list[dict[str, torch.Tensor]] = []
    heads: list[torch.Tensor] = []
    holder: list[Trainer] = []

    def on_epoch(row: dict[str, float]) -> None:
        snapshots.append(_backbone_state(holder[0].model))
        heads.append(holder[0].model.heads[0].cls[1].weight.detach().clone())

    config = TrainConfig(
        data=str(child_data),
        out=str(tmp_path / "run"),
        init=str(parent),
        epochs=2,
        freeze=0.5,
        lr=0.01,
        **TINY,
    )
    trainer = Trainer(config, Progress(on_epoch=on_epoch))
    holder.append(trainer)
    start = _backbone_state(trainer.model)
    head_start = trainer.model.heads[0].cls[1].weight.detach().clone()
    trainer.fit()
    assert len(snapshots) == 2
    assert all(torch.equal(start[k], snapshots[0][k]) for k in start)  # epoch 1 (progress < 0.5): frozen
    assert not torch.equal(heads[0], head_start)  # while the head learned
    changed = [k for k in start if not torch.equal(start[k], snapshots[1][k])]
    assert any(k.endswith("running_mean") for k in changed) and any(k.endswith("weight") for k in changed)
    assert all(p.requires_grad for p in trainer.model.parameters())  # released again


def test_mix_draws_the_replay_share_afresh_each_epoch() -> None:
    train = [Sample(np.zeros((4, 4, 3), np.uint8), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))] * 14
    replay = [
        Sample(np.full((4, 4, 3), i, np.uint8), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
        for i in range(50)
    ]
    rng = np.random.default_rng(0)
    first, second = finetune.mix(train, replay, 0.3, rng), finetune.mix(train, replay, 0.3, rng)
    assert len(first) == len(second) == 20  # 6 / 20 = 0.3
    picked = [{int(s.image[0, 0, 0]) for s in epoch[14:]} for epoch in (first, second)]
    assert len(picked[0]) == 6 and picked[0] != picked[1]
    assert finetune.mix(train, replay, 0.0, rng) is train
    assert finetune.replay_count(14, 3, 0.5) == 3  # never more than there are


def test_replay_images_join_every_epoch_with_their_classes(
    parent: Path, child_data: Path, tmp_path: Path
) -> None:
    replay = _data(tmp_path / "old", 3, ("square", "hexagon"))  # hexagon: in neither parent nor new data
    messages: list[str] = []
    config = TrainConfig(
        data=str(child_data),
        out=str(tmp_path / "run"),
        init=str(parent),
        replay=str(replay),
        replay_share=0.5,
        epochs=2,
        **TINY,
    )
    trainer = Trainer(config, Progress(on_message=messages.append))
    assert trainer.names == ["square", "circle", "triangle", "star", "hexagon"]
    trainer.fit()
    assert "replay: 16 of 16 images" in " ".join(messages)
    with (tmp_path / "run" / "results.csv").open() as f:
        images = [float(row["images"]) for row in csv.DictReader(f)]
    assert images == [32.0, 64.0]  # 16 new + 16 replayed per epoch


def test_lineage_resume_and_exported_bundle_as_init(parent: Path, child_data: Path, tmp_path: Path) -> None:
    from edgeloop.bundle import load_bundle
    from edgeloop.export.onnx import export_run

    run = tmp_path / "run"
    config = TrainConfig(data=str(child_data), out=str(run), init=str(parent), epochs=1, **TINY)
    Trainer(config).fit()
    parent_id = finetune.file_fingerprint(parent / "weights" / "best.pt")
    assert checkpoint.load(run / "weights" / "last.pt")["parent"] == parent_id
    # Resume continues the fine-tune with its own class list and keeps the lineage.
    resumed = Trainer(config.model_copy(update={"epochs": 2}), resume=True)
    assert resumed.names == ["square", "circle", "triangle", "star"] and resumed.epoch == 1
    assert resumed.fit().epochs == 2
    assert checkpoint.load(run / "weights" / "last.pt")["parent"] == parent_id
    # Export records the parent; the bundle leads back to its run's checkpoint.
    bundle = export_run(run, tmp_path / "bundle").bundle
    assert bundle.manifest.provenance is not None
    assert bundle.manifest.provenance.parent_version == parent_id
    assert load_bundle(tmp_path / "bundle").manifest.names == ["square", "circle", "triangle", "star"]
    assert finetune.resolve_init(tmp_path / "bundle").resolve() == checkpoint.best_or_last(run).resolve()
    shutil.move(run, tmp_path / "moved")
    where = re.escape(str(run.resolve()))
    with pytest.raises(TrainError, match=f"carries no training weights.*exported from {where}.*--init RUN"):
        finetune.load_init(tmp_path / "bundle")


def test_an_imported_onnx_bundle_cannot_be_fine_tuned(tmp_path: Path) -> None:
    from edgeloop.importer import import_onnx
    from edgeloop.testing.onnx_models import colour_detector

    import_onnx(colour_detector(tmp_path / "m.onnx", imgsz=(64, 64)), tmp_path / "imported")
    with pytest.raises(
        TrainError, match="imported from ONNX and has no training weights.*edgeloop train DATA"
    ):
        finetune.load_init(tmp_path / "imported")
    with pytest.raises(TrainError, match="imported from ONNX"):
        finetune.load_init(tmp_path / "m.onnx")


def test_init_refuses_another_network_or_task(parent: Path, child_data: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="is a nano network, not --model small"):
        Trainer(TrainConfig(data=str(child_data), out=str(tmp_path / "r"), init=str(parent), model="small"))
    with pytest.raises(TrainError, match="--init .*nowhere: not found"):
        Trainer(TrainConfig(data=str(child_data), out=str(tmp_path / "r"), init=str(tmp_path / "nowhere")))
