"""Training batches: images decoded once into memory, augmented on a background thread.

OpenCV releases the GIL while it warps and converts images, so one prefetch
thread overlaps augmentation with the training step at no cost in processes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from edgeloop.data.dataset import Dataset
from edgeloop.imaging import read_image
from edgeloop.train.augment import AugmentConfig, Sample, augment, fit
from edgeloop.train.loss import Targets

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Batch:
    """Images (B, 3, S, S) float RGB in [0, 1] and padded targets, or class labels."""

    images: Tensor
    targets: Targets | None = None
    labels: Tensor | None = None


def load_samples(ds: Dataset, size: int | None = None, progress: Progress | None = None) -> list[Sample]:
    """Decode every image of ``ds`` (letterboxed to ``size`` when given, to save memory)."""
    samples = []
    for index, item in enumerate(ds.items):
        image = read_image(item.image)
        if item.detections is not None:
            xyxy = item.detections.xyxy.astype(np.float32)
            labels = item.detections.class_id.astype(np.int64)
        else:
            xyxy = np.zeros((0, 4), np.float32)
            labels = np.asarray([item.label if item.label is not None else -1], np.int64)
        sample = Sample(image, xyxy, labels)
        samples.append(fit(sample, size) if size is not None else sample)
        if progress is not None:
            progress(index + 1, len(ds.items))
    return samples


def to_tensor(images: Sequence[np.ndarray]) -> Tensor:
    """(B, S, S, 3) BGR uint8 -> (B, 3, S, S) float32 RGB in [0, 1]."""
    stacked = np.stack(images)[..., ::-1].transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked)).float().div_(255)


def collate_detection(samples: Sequence[Sample]) -> Batch:
    """Stack images and pad boxes to the batch's largest count."""
    m = max((len(s.labels) for s in samples), default=0)
    xyxy = torch.zeros(len(samples), m, 4)
    labels = torch.zeros(len(samples), m, dtype=torch.long)
    mask = torch.zeros(len(samples), m, dtype=torch.bool)
    for i, s in enumerate(samples):
        k = len(s.labels)
        xyxy[i, :k] = torch.from_numpy(s.xyxy)
        labels[i, :k] = torch.from_numpy(s.labels)
        mask[i, :k] = True
    return Batch(to_tensor([s.image for s in samples]), Targets(xyxy, labels, mask))


def collate_classification(samples: Sequence[Sample]) -> Batch:
    """Stack images and their class labels."""
    labels = torch.as_tensor([int(s.labels[0]) for s in samples], dtype=torch.long)
    return Batch(to_tensor([s.image for s in samples]), labels=labels)


def epoch_batches(
    samples: list[Sample],
    batch_size: int,
    size: int,
    cfg: AugmentConfig,
    rng: np.random.Generator,
    use_mosaic: bool,
    task: str = "detect",
    shard: tuple[int, int] = (0, 1),
) -> Iterator[Batch]:
    """One shuffled pass over ``samples`` in augmented batches (the last partial batch is dropped).

    ``shard`` (rank, processes) yields only that rank's slice of each global
    batch of ``batch_size``. Each sample is augmented with a generator seeded
    from ``rng``, which advances the same whatever the shard, so the ranks
    together see exactly the images one process would.
    """
    rank, shards = shard
    per_rank = batch_size // shards
    order = rng.permutation(len(samples))
    collate = collate_detection if task == "detect" else collate_classification
    for start in range(0, len(order) - batch_size + 1, batch_size):
        extra = rng.integers(0, len(samples), (batch_size, 3))
        seeds = rng.integers(0, 2**63, batch_size)
        batch = []
        for i in range(rank * per_rank, (rank + 1) * per_rank):
            pick = [samples[order[start + i]]] + [samples[j] for j in extra[i]]
            own = np.random.default_rng(seeds[i])
            batch.append(augment(pick, size, cfg, own, use_mosaic and task == "detect"))
        yield collate(batch)


def prefetch(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Produce ``batches`` on a background thread, ``depth`` ahead of the consumer."""
    q: queue.Queue[Batch | BaseException | None] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                q.put(batch)
            q.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="edgeloop-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
