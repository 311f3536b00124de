"""Every corpus candidate is a complete, signed bundle: only the checks can tell it is bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeloop.bundle import load_bundle
from edgeloop.signing import Keyring, verify_bundle
from edgeloop.signing.keys import KEYRING
from edgeloop.testing.bad_models import KINDS, build_candidate, golden_scene, live_frames
from tests.agent.conftest import Corpus


def test_every_kind_verifies_and_differs_from_the_good_model(corpus: Corpus) -> None:
    keyring = Keyring.load(corpus.keys / KEYRING)
    good_model = (corpus.good / "model.onnx").read_bytes()
    assert set(corpus.bad) == set(KINDS) and len(KINDS) == 10
    for kind, root in corpus.bad.items():
        manifest = load_bundle(root).manifest  # every listed file is there with its sha256 and size
        assert manifest.version == "2" and manifest.counter is not None
        assert (root / "model.onnx").read_bytes() != good_model, kind
        assert manifest.samples, kind  # the good bundle's golden samples travel along
        verify_bundle(root, keyring)  # signed like a good release


def test_unknown_kind_is_refused(corpus: Corpus, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown bad-model kind 'odd'; choose one of fails_to_load"):
        build_candidate(corpus.good, "odd", tmp_path / "odd")


def test_frames() -> None:
    frames = live_frames(seed=1)
    first = next(frames)
    assert first.shape == (320, 320, 3) and (first != 128).any()
    assert golden_scene().shape == (320, 320, 3)
