"""Shared agent-test fixtures: the bad-model corpus (built and signed once per session) and a
tiny signed-release kit (colour detector, key folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeloop.signing import generate_key
from edgeloop.testing.bad_bundles import Kit, make_kit
from edgeloop.testing.bad_models import KINDS, build_candidate, good_bundle, sign_candidate


@dataclass(frozen=True)
class Corpus:
    good: Path  # version 1, signed
    good_v2: Path  # the same model released again as version 2: must pass every check
    bad: dict[str, Path]  # kind -> signed candidate (version 2)
    keys: Path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    folder = tmp_path_factory.mktemp("corpus")
    keys = folder / "keys"
    generate_key(keys, note="bad-model corpus")
    good = sign_candidate(good_bundle(folder), keys)
    bad = {kind: sign_candidate(build_candidate(good, kind, folder / kind), keys) for kind in KINDS}
    v2 = sign_candidate(build_candidate_same(good, folder / "good_v2"), keys)
    return Corpus(good, v2, bad, keys)


def build_candidate_same(good: Path, dest: Path) -> Path:
    import shutil

    from edgeloop.bundle import read_manifest, write_manifest

    shutil.copytree(good, dest, ignore=shutil.ignore_patterns("bundle.sig"))
    write_manifest(dest, read_manifest(dest).model_copy(update={"version": "2"}))
    return dest


@pytest.fixture(scope="session")
def kit_template(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("agent-kit"))


@pytest.fixture()
def kit(kit_template: Kit, tmp_path: Path) -> Kit:
    """A private copy of the key folder (some tests rotate and revoke keys)."""
    return kit_template.copy(tmp_path / "kit")
