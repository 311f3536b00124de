"""A tiny signed-release kit (colour detector, key folder) shared by the agent tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeloop.testing.bad_bundles import Kit, make_kit


@pytest.fixture(scope="session")
def kit_template(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("agent-kit"))


@pytest.fixture()
def kit(kit_template: Kit, tmp_path: Path) -> Kit:
    """A private copy of the key folder (some tests rotate and revoke keys)."""
    return kit_template.copy(tmp_path / "kit")
