"""Sampler contract (every registry entry) and what each sampler scores."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import ConfigError
from edgeloop.improve.samplers import SAMPLERS, Baseline, Frame, SamplerContext, features, thumbnail
from edgeloop.types import Detections

NAMES = ("car", "truck", "person")


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    array = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(array[:, :4], array[:, 4], array[:, 5].astype(np.int32), NAMES)


def random_frames(seed: int, n: int = 40) -> list[tuple[Frame, SamplerContext]]:
    """Frames with every field set, and contexts with history, from a seed."""
    rng = np.random.default_rng(seed)
    out = []
    baseline = Baseline()
    for i in range(n):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 50, (k, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(1, 30, (k, 2))], axis=1)
        d = Detections(boxes, rng.uniform(0, 1, k), rng.integers(0, 3, k), NAMES)
        second = d[: max(0, k - int(rng.integers(0, 2)))]
        image = rng.integers(0, 256, (48, 64, 3), np.uint8)
        frame = Frame(i, float(i), d, thumbnail(image), second, bool(rng.integers(0, 2)))
        context = SamplerContext(
            seed=seed,
            class_counts={"car": int(rng.integers(0, 9)), "truck": int(rng.integers(0, 3))},
            baseline=baseline,
            last_kept_thumbnail=thumbnail(rng.integers(0, 256, (48, 64, 3), np.uint8)) if i % 3 else None,
            last_kept_time_s=float(i - rng.integers(0, 120)) if i % 4 else None,
        )
        baseline = baseline.updated(features(frame))
        out.append((frame, context))
    return out


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_contract(name: str) -> None:
    """Scores in [0, 1], the same for the same seed, with a reason, for every frame kind."""
    sampler = SAMPLERS.get(name)
    assert sampler.name == name
    params = sampler.params()  # every setting has a default
    scores = []
    for frame, context in random_frames(7):
        first = sampler(frame, params, context)
        again = sampler(frame, params, context)
        assert first == again
        assert 0.0 <= first.score <= 1.0
        assert isinstance(first.reason, str) and first.reason.strip()
        scores.append(first.score)
    assert scores == [sampler(f, params, c).score for f, c in random_frames(7)]
    # a frame without a model, an image or a second model must not break any sampler
    bare = sampler(Frame(0, 0.0), params, SamplerContext())
    assert 0.0 <= bare.score <= 1.0 and bare.reason


def test_unknown_sampler_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown sampler 'nope': choose one of random, close_to_threshold"):
        SAMPLERS.get("nope")


def run(name: str, frame: Frame, context: SamplerContext | None = None, **settings: object) -> float:
    sampler = SAMPLERS.get(name)
    return sampler(frame, sampler.params(**settings), context or SamplerContext()).score


def test_random_depends_on_seed_and_sequence_only() -> None:
    draws = [run("random", Frame(i, 0.0), SamplerContext(seed=3)) for i in range(2000)]
    assert draws == [run("random", Frame(i, 99.0), SamplerContext(seed=3)) for i in range(2000)]
    assert draws != [run("random", Frame(i, 0.0), SamplerContext(seed=4)) for i in range(2000)]
    assert 0.45 < float(np.mean(draws)) < 0.55 and 0.08 < float(np.mean(np.array(draws) > 0.9)) < 0.12


def test_close_to_threshold_peaks_in_the_middle_of_each_class_band() -> None:
    frame = Frame(0, 0.0, dets([(0, 0, 10, 10, 0.45, 0)]))
    assert run("close_to_threshold", frame) == pytest.approx(1.0)  # middle of 0.3-0.6
    assert run("close_to_threshold", frame, classes={"car": (0.6, 0.9)}) == 0.0
    edge = Frame(0, 0.0, dets([(0, 0, 10, 10, 0.35, 0)]))
    assert run("close_to_threshold", edge) == pytest.approx(1 / 3, abs=1e-6)
    assert run("close_to_threshold", Frame(0, 0.0, dets([(0, 0, 10, 10, 0.95, 0)]))) == 0.0


def test_selected_and_rare_classes() -> None:
    frame = Frame(0, 0.0, dets([(0, 0, 10, 10, 0.8, 1), (0, 0, 9, 9, 0.9, 0)]))
    assert run("selected_classes", frame, classes=["truck"]) == pytest.approx(0.8)
    assert run("selected_classes", frame, classes=["person"]) == 0.0
    common = SamplerContext(class_counts={"car": 90, "truck": 10})
    assert run("rare_classes", frame, common) == pytest.approx(0.9)  # truck is 10% of the captured
    only_cars = Frame(0, 0.0, dets([(0, 0, 9, 9, 0.9, 0)]))
    assert run("rare_classes", only_cars, common) == pytest.approx(0.1)
    assert run("rare_classes", only_cars) == 1.0  # nothing captured yet


def test_detection_count() -> None:
    crowd = Frame(0, 0.0, dets([(0, 0, 9, 9, 0.9, 0)] * 5))
    assert run("detection_count", crowd, more_than=4) == 1.0
    assert run("detection_count", crowd, more_than=5) == 0.0
    assert run("detection_count", Frame(0, 0.0, dets([])), fewer_than=1) == 1.0


def test_novelty_rises_when_the_scene_drifts() -> None:
    rng = np.random.default_rng(0)
    baseline = Baseline()
    for i in range(100):
        image = np.full((32, 32, 3), 100 + int(rng.integers(-3, 4)), np.uint8)
        baseline = baseline.updated(features(Frame(i, 0.0, dets([]), thumbnail(image))))
    context = SamplerContext(baseline=baseline)
    usual = Frame(0, 0.0, dets([]), thumbnail(np.full((32, 32, 3), 101, np.uint8)))
    dark = Frame(0, 0.0, dets([]), thumbnail(np.full((32, 32, 3), 20, np.uint8)))
    crowd = Frame(0, 0.0, dets([(0, 0, 9, 9, 0.9, 0)] * 6), usual.thumbnail)
    assert run("novelty", usual, context) < 0.5
    assert run("novelty", dark, context) == 1.0
    assert run("novelty", crowd, context) == 1.0
    assert run("novelty", dark, SamplerContext(baseline=Baseline())) == 0.0  # still warming up


def test_disagreement_matches_boxes_by_iou_and_class() -> None:
    a = dets([(0, 0, 10, 10, 0.9, 0), (20, 20, 30, 30, 0.9, 1)])
    same = Frame(0, 0.0, a, second=dets([(1, 0, 10, 10, 0.8, 0), (20, 20, 30, 31, 0.7, 1)]))
    assert run("disagreement", same) == 0.0
    other_class = Frame(0, 0.0, a, second=dets([(0, 0, 10, 10, 0.9, 2), (20, 20, 30, 30, 0.9, 1)]))
    assert run("disagreement", other_class) == pytest.approx(0.5)
    missing = Frame(0, 0.0, a, second=dets([]))
    assert run("disagreement", missing) == 1.0


def test_model_free_samplers() -> None:
    grey = thumbnail(np.full((40, 40, 3), 128, np.uint8))
    white = thumbnail(np.full((40, 40, 3), 255, np.uint8))
    kept_grey = SamplerContext(last_kept_thumbnail=grey, last_kept_time_s=100.0)
    assert run("scene_change", Frame(0, 0.0, thumbnail=grey), kept_grey) == 0.0
    assert run("scene_change", Frame(0, 0.0, thumbnail=white), kept_grey) == 1.0
    assert run("interval", Frame(0, 130.0), kept_grey, seconds=60) == 0.0
    assert run("interval", Frame(0, 160.0), kept_grey, seconds=60) == 1.0
    assert run("flagged", Frame(0, 0.0, flagged=True)) == 1.0
    assert run("flagged", Frame(0, 0.0)) == 0.0
