"""Too little disk: the offer is rejected before any switch, naming the space needed; old stays current."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeloop.agent.agent import Agent
from edgeloop.agent.basic import WaitWindow
from edgeloop.agent.folder import FolderSource
from edgeloop.agent.models import ModelsDir
from edgeloop.agent.stage import Rejected, stage_tar, unpacked_size
from edgeloop.improve.diskguard import free_bytes
from edgeloop.testing import bad_bundles
from edgeloop.testing.agent_kills import agent_once, hash_check
from edgeloop.testing.bad_bundles import Kit
from edgeloop.testing.capped_fs import CappedFs, CappedFsUnavailable, capped_filesystem

MARGIN = 1 << 20


@pytest.fixture()
def capped(tmp_path: Path) -> Iterator[CappedFs]:
    try:
        with capped_filesystem(tmp_path / "capped", 16 * 1024**2, "auto") as fs:
            yield fs
    except CappedFsUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI must run the disk-full tests: run them as root with mount rights)")
        pytest.skip(str(exc))


def _installed(kit: Kit, root: Path) -> tuple[Path, Path]:
    models, watch = root / "models", root / "watch"
    watch.mkdir()
    bad_bundles.signed_tar(kit, watch / "v1.tar", 1)
    assert agent_once(models, watch, kit.ring()) == "committed"
    return models, watch


def test_no_room_to_download(kit: Kit, capped: CappedFs, tmp_path: Path) -> None:
    models, watch = _installed(kit, capped.path)
    folder = ModelsDir(models)
    before = (folder.current_key(), folder.installed())
    new = bad_bundles.signed_tar(kit, tmp_path / "v2.tar", 2)  # built off the small disk, then dropped
    capped.fill(leave_bytes=new.stat().st_size + MARGIN // 2)
    (watch / "v2.tar").write_bytes(new.read_bytes())  # the drop itself takes its size: MARGIN/2 are left
    agent = Agent(
        models,
        FolderSource(watch, models, poll_s=0.02),
        kit.ring(),
        hash_check,
        WaitWindow(0),
        margin_bytes=MARGIN,
    )
    offer = agent.source.next_offer(1.0)
    assert offer is not None
    assert agent.process(offer) == "rejected"
    reason = folder.read_state()["reason"]
    assert reason.startswith("downloading needs ") and " MB free on " in reason, reason
    assert (folder.current_key(), folder.installed()) == before
    capped.release()
    # with room again, a fixed drop (a new file: the refused one is in the history) goes through
    bad_bundles.signed_tar(kit, watch / "v3.tar", 3)
    assert agent_once(models, watch, kit.ring()) == "committed"


def test_no_room_to_unpack(kit: Kit, capped: CappedFs, tmp_path: Path) -> None:
    models, _watch = _installed(kit, capped.path)
    folder = ModelsDir(models)
    before = (folder.current_key(), folder.installed())
    tar = bad_bundles.signed_tar(kit, folder.downloads / "v2.tar", 2)  # as if just downloaded
    margin = free_bytes(folder.staging) - unpacked_size(tar) + 1  # one byte short
    with pytest.raises(Rejected, match=r"unpacking needs [0-9.]+ MB, [0-9.]+ MB free on "):
        stage_tar(folder, tar, kit.ring(), None, margin)
    assert list(folder.staging.iterdir()) == []
    assert (folder.current_key(), folder.installed()) == before


def test_disk_full_while_unpacking_is_a_reject(kit: Kit, capped: CappedFs, tmp_path: Path) -> None:
    models, _watch = _installed(kit, capped.path)
    folder = ModelsDir(models)
    before = (folder.current_key(), folder.installed())
    tar = bad_bundles.signed_tar(kit, folder.downloads / "v2.tar", 2)
    capped.fill(leave_bytes=unpacked_size(tar) // 2)  # the check is off (margin below 0): the kernel says no
    with pytest.raises(Rejected, match="disk full while unpacking"):
        stage_tar(folder, tar, kit.ring(), None, -(1 << 30))
    assert list(folder.staging.iterdir()) == []
    assert (folder.current_key(), folder.installed()) == before
