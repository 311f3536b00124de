"""A synthetic domain-shift stream, and picking label budgets from it with the capture samplers.

What ``benchmarks/sampling_value.py`` needs to ask "is labelling the frames
edgeloop picked worth more than labelling random frames?":

- ``make_stream``: a stream of frames where a minority comes from a shifted
  domain (``DOMAIN_B``: what the current model handles poorly) among frames
  like the training data (``DOMAIN_A``), with the true labels kept (synthetic).
- ``observe``: the model's detections on every frame, through a ``Predictor`` at
  the bundle's own thresholds, as a device running ``edgeloop run --capture`` sees them.
- ``sampler_scores``: each frame's score from a registered sampler, with the
  history a ``Capture`` keeps (baseline every frame; class counts and the last
  kept frame over frames that reach ``min_score``).
- ``pick``: the ``budget`` highest scores, which is what the spool keeps with
  ``budget.max_count = budget`` (lowest scores are evicted); ties go by a seeded draw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.formats import load_dataset, save_dataset
from edgeloop.data.synth import DOMAIN_A, DOMAIN_B, SHAPES, Domain, synth_detection
from edgeloop.errors import DatasetError
from edgeloop.imaging import read_image
from edgeloop.improve.samplers import SAMPLERS, Frame, SamplerContext, SamplerParams, features, thumbnail
from edgeloop.improve.samplers.base import uniform
from edgeloop.predictor import Predictor
from edgeloop.types import Detections

FRAME_INTERVAL_S = 0.5  # capture clock step between frames (only the interval sampler reads it)


@dataclass(frozen=True)
class DomainStream:
    """Frames in stream order with their true labels and the domain each came from.

    Attributes:
        names: class names.
        items: the frames (``Item.name`` is ``"<domain>/<file>"``, unique).
        domains: each frame's domain name (``Domain.name``), same order.
    """

    names: tuple[str, ...]
    items: tuple[Item, ...]
    domains: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.items)

    def shifted(self, base: str = DOMAIN_A.name) -> npt.NDArray[np.bool_]:
        """(N,) True for frames not from ``base``."""
        return np.asarray([d != base for d in self.domains], bool)

    def dataset(self, indices: Sequence[int] | None = None) -> Dataset:
        """The frames at ``indices`` (all by default) as a labelled detection dataset."""
        chosen = range(len(self.items)) if indices is None else indices
        return Dataset(self.names, tuple(self.items[i] for i in chosen), "detect")


def synth_cached(
    out: Path, images: int, size: int, seed: int, domain: Domain, classes: Sequence[str] = SHAPES
) -> Dataset:
    """``synth_detection`` into ``out``, or the dataset already there (a cache of the same arguments)."""
    if (out / "images").is_dir():
        ds = load_dataset(out)
        if len(ds) == images:
            return ds
        raise DatasetError(f"{out} holds {len(ds)} images, not {images}: delete it or use a new folder")
    return synth_detection(out, images, size, seed=seed, classes=classes, domain=domain)


def make_stream(
    root: Path,
    frames: int,
    shifted_share: float,
    size: int,
    seed: int,
    base: Domain = DOMAIN_A,
    shift: Domain = DOMAIN_B,
    classes: Sequence[str] = SHAPES,
) -> DomainStream:
    """Write ``frames`` synthetic frames under ``root`` and order them into a stream.

    ``round(frames * shifted_share)`` frames come from ``shift``, the rest from
    ``base``, interleaved in a seeded random order (each frame independent, as a
    camera sampled every few seconds). Folders already in ``root`` from the same
    arguments are reused.

    Raises:
        DatasetError: ``shifted_share`` outside [0, 1], or ``root`` holds other data.
    """
    if not 0.0 <= shifted_share <= 1.0:
        raise DatasetError(f"shifted_share must be in [0, 1], got {shifted_share}")
    n_shift = round(frames * shifted_share)
    parts: list[tuple[Domain, int]] = [(base, frames - n_shift), (shift, n_shift)]
    items: list[Item] = []
    domains: list[str] = []
    for k, (domain, count) in enumerate(parts):
        if count == 0:
            continue
        ds = synth_cached(root / domain.name, count, size, seed * 10 + k, domain, classes)
        items += [replace(item, name=f"{domain.name}/{item.name}") for item in ds.items]
        domains += [domain.name] * count
    order = np.random.default_rng(seed).permutation(len(items)).tolist()
    return DomainStream(tuple(classes), tuple(items[i] for i in order), tuple(domains[i] for i in order))


@dataclass(frozen=True)
class Observation:
    """What the samplers see of one frame: the model's detections, a second model's, the thumbnail."""

    detections: Detections
    second: Detections | None
    thumbnail: npt.NDArray[np.float32]


def _detect(predictor: Predictor, image: npt.NDArray[np.uint8]) -> Detections:
    result = predictor.predict(image)
    if not isinstance(result, Detections):
        raise DatasetError(f"{predictor.bundle.manifest.name} is not a detector: sampling needs boxes")
    return result


def observe(stream: DomainStream, predictor: Predictor, second: Predictor | None = None) -> list[Observation]:
    """Run the model (and the second model, for ``disagreement``) over every frame in order."""
    seen: list[Observation] = []
    for item in stream.items:
        image = read_image(item.image)
        other = _detect(second, image) if second is not None else None
        seen.append(Observation(_detect(predictor, image), other, thumbnail(image)))
    return seen


def sampler_scores(
    sampler: str, params: SamplerParams, seen: Sequence[Observation], seed: int, min_score: float = 0.5
) -> npt.NDArray[np.float64]:
    """(N,) scores of the registered ``sampler`` for every frame, in stream order.

    The context evolves as in ``Capture``: the baseline takes every frame; class
    counts and the last kept frame take frames scoring ``min_score`` or more
    (the policy's default trigger).
    """
    entry = SAMPLERS.get(sampler)
    context = SamplerContext(seed=seed)
    counts: Counter[str] = Counter()
    scores = np.zeros(len(seen))
    for sequence, obs in enumerate(seen):
        frame = Frame(sequence, sequence * FRAME_INTERVAL_S, obs.detections, obs.thumbnail, obs.second)
        score = entry(frame, params, context)
        scores[sequence] = score.score
        context = replace(context, baseline=context.baseline.updated(features(frame)))
        if score.score >= min_score:
            counts.update(obs.detections.class_name(c) for c in obs.detections.class_id.tolist())
            context = replace(
                context,
                class_counts=dict(counts),
                last_kept_thumbnail=obs.thumbnail,
                last_kept_time_s=frame.time_s,
            )
    return scores


def pick(scores: npt.NDArray[np.float64], budget: int, seed: int) -> list[int]:
    """Indices of the ``budget`` highest scores (ties: a seeded uniform draw per frame), in stream order.

    Raises:
        DatasetError: the budget is not between 1 and the number of frames.
    """
    if not 1 <= budget <= len(scores):
        raise DatasetError(f"a budget of {budget} frames needs 1..{len(scores)} frames in the stream")
    ties = np.asarray([uniform(seed, i, "tie") for i in range(len(scores))])
    order = np.lexsort((-ties, -np.asarray(scores)))  # last key first: score, then the draw
    return sorted(order[:budget].tolist())


def write_labelled(dataset: Dataset, out: Path) -> Path:
    """Save ``dataset`` (the picked frames, with their true labels) as a YOLO folder ``out``."""
    items = tuple(replace(item, name=item.name.replace("/", "_")) for item in dataset.items)
    save_dataset(Dataset(dataset.names, items, dataset.task), out, "yolo")
    return out
