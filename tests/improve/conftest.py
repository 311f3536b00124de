"""The size-capped filesystem for the disk-full tests (root only; CI runs as root)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeloop.testing.capped_fs import CappedFs, CappedFsUnavailable, capped_filesystem


@pytest.fixture(params=["ext4", "tmpfs"])
def capped_fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CappedFs]:
    """A fresh 32 MiB filesystem mounted for one test: ext4 on a loop device, and tmpfs.

    Skips with the reason when it cannot be mounted (not root, no mount rights in a
    container); under CI=true that is a failure, so CI never silently skips it.
    """
    try:
        with capped_filesystem(tmp_path / "capped", 32 * 1024**2, request.param) as fs:
            yield fs
    except CappedFsUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI must run the disk-full tests: run them as root with mount rights)")
        pytest.skip(str(exc))
