"""A real signed bundle (colour detector, golden sample, a variant with a weights file) and its keys."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeloop.signing import Keyring
from edgeloop.testing.signature_flips import signed_bundle


@dataclass(frozen=True)
class Signed:
    """A signed bundle folder, the key folder that signed it, and its key ring."""

    root: Path
    keys: Path

    @property
    def keyring_path(self) -> Path:
        return self.keys / "keyring.json"

    def ring(self) -> Keyring:
        return Keyring.load(self.keyring_path)


@pytest.fixture(scope="session")
def signed_template(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    root, keys = signed_bundle(tmp_path_factory.mktemp("signed"))
    return Signed(root, keys)


@pytest.fixture()
def signed(signed_template: Signed, tmp_path: Path) -> Signed:
    """A private copy of the signed bundle and its keys, free to change."""
    root = shutil.copytree(signed_template.root, tmp_path / "bundle")
    keys = shutil.copytree(signed_template.keys, tmp_path / "keys")
    return Signed(root, keys)
