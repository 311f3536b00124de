"""The domain-shift stream and budget picks behind benchmarks/sampling_value.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.data.formats import load_dataset
from edgeloop.errors import DatasetError
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.improve.samplers import SAMPLERS
from edgeloop.predictor import Predictor
from edgeloop.testing.domain_stream import (
    Observation,
    make_stream,
    observe,
    pick,
    sampler_scores,
    write_labelled,
)
from edgeloop.testing.onnx_models import colour_detector
from edgeloop.types import Detections

pytest.importorskip("cv2")


def test_stream_mixes_a_minority_of_shifted_frames_reproducibly(tmp_path: Path) -> None:
    stream = make_stream(tmp_path / "s", 20, 0.25, 64, seed=3)
    assert len(stream) == 20 and int(stream.shifted().sum()) == 5
    assert sorted(set(stream.domains)) == ["A", "B"]
    assert np.diff(np.flatnonzero(stream.shifted())).max() > 1  # interleaved, not one block
    assert len({item.name for item in stream.items}) == 20
    again = make_stream(tmp_path / "s", 20, 0.25, 64, seed=3)  # the folders are reused
    assert [i.name for i in again.items] == [i.name for i in stream.items]
    other = make_stream(tmp_path / "t", 20, 0.25, 64, seed=4)
    assert [d for d in other.domains] != [d for d in stream.domains]
    with pytest.raises(DatasetError, match="holds 15 images, not 10"):
        make_stream(tmp_path / "s", 12, 1 / 6, 64, seed=3)


def test_picks_are_the_highest_scores_with_seeded_ties() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.5, 0.5, 0.0])
    assert pick(scores, 1, 0) == [1]
    two = pick(scores, 2, 0)
    assert 1 in two and len(two) == 2 and two == sorted(two)
    tie_picks = {tuple(pick(scores, 2, seed)) for seed in range(12)}
    assert len(tie_picks) > 1  # which of the tied frames goes in depends on the seed
    assert pick(scores, 2, 5) == pick(scores, 2, 5)
    with pytest.raises(DatasetError, match="budget of 7 frames"):
        pick(scores, 7, 0)


def _obs(classes: list[int], conf: float = 0.9) -> Observation:
    n = len(classes)
    dets = Detections(
        np.tile(np.array([[0, 0, 10, 10]], np.float32), (n, 1)),
        np.full(n, conf, np.float32),
        np.asarray(classes, np.int32),
        ("square", "circle", "triangle"),
    )
    return Observation(dets, None, np.zeros((32, 32, 3), np.float32))


def test_sampler_scores_follow_the_capture_context() -> None:
    seen = [_obs([0]), _obs([0]), _obs([]), _obs([1]), _obs([0], 0.45)]
    empty = SAMPLERS.get("detection_count").params(fewer_than=1)
    assert sampler_scores("detection_count", empty, seen, 0).tolist() == [0, 0, 1, 0, 0]
    uncertain = sampler_scores("close_to_threshold", SAMPLERS.get("close_to_threshold").params(), seen, 0)
    assert uncertain[4] == pytest.approx(1.0) and uncertain[:4].tolist() == [0, 0, 0, 0]
    # rare_classes reads the class counts of frames kept so far: squares become common, a circle is rare
    rare = sampler_scores("rare_classes", SAMPLERS.get("rare_classes").params(), seen, 0)
    assert rare[0] == 1.0 and rare[1] == 0.0 and rare[3] == 1.0
    randoms = sampler_scores("random", SAMPLERS.get("random").params(), seen, 7)
    assert len(set(randoms.tolist())) == 5 and np.array_equal(
        randoms, sampler_scores("random", SAMPLERS.get("random").params(), seen, 7)
    )


def test_observe_runs_the_bundle_and_picks_write_a_dataset(tmp_path: Path) -> None:
    stream = make_stream(tmp_path / "s", 6, 0.5, 64, seed=1)
    model = colour_detector(tmp_path / "m.onnx", imgsz=(64, 64), stride=32)
    bundle = import_onnx(model, tmp_path / "b", ImportOptions())
    with Predictor(bundle) as predictor:
        seen = observe(stream, predictor, second=predictor)
    assert len(seen) == 6
    assert all(o.thumbnail.shape == (32, 32, 3) and o.second is not None for o in seen)
    chosen = pick(sampler_scores("random", SAMPLERS.get("random").params(), seen, 0), 3, 0)
    out = write_labelled(stream.dataset(chosen), tmp_path / "picked")
    ds = load_dataset(out)
    assert len(ds) == 3 and ds.names == stream.names
    labels = {i.name.split("/")[-1]: len(i.detections) for i in ds.items if i.detections is not None}
    expected = {stream.items[i].name.replace("/", "_"): len(stream.items[i].detections or []) for i in chosen}
    assert labels == expected
