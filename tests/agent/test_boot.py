"""A version not yet committed that crashes its process at start more than max_crashes times is reverted."""

from __future__ import annotations

import threading
from pathlib import Path

from edgeloop.agent.agent import Agent
from edgeloop.agent.boot import note_start
from edgeloop.agent.contract import Verdict, VersionRef
from edgeloop.agent.folder import FolderSource
from edgeloop.agent.models import ModelsDir
from edgeloop.testing import bad_bundles
from edgeloop.testing.agent_kills import agent_once, hash_check
from edgeloop.testing.bad_bundles import Kit


class Stuck:
    """A window that never ends on its own (as if the serving process kept crashing)."""

    def __call__(
        self, models_dir: Path, new: VersionRef, old: VersionRef | None, stop: threading.Event
    ) -> Verdict:
        stop.set()
        return Verdict(False, "stopped")


def _switched_uncommitted(kit: Kit, tmp_path: Path) -> tuple[ModelsDir, str, str]:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    bad_bundles.signed_tar(kit, watch / "v1.tar", 1)
    assert agent_once(models, watch, kit.ring()) == "committed"
    folder = ModelsDir(models)
    old = folder.current_key()
    assert old is not None
    bad_bundles.signed_tar(kit, watch / "v2.tar", 2)
    agent = Agent(
        models, FolderSource(watch, models, poll_s=0.02), kit.ring(), hash_check, Stuck(), margin_bytes=0
    )
    offer = agent.source.next_offer(1.0)
    assert offer is not None
    assert agent.process(offer) == "window"  # stopped in the window: switched, not committed
    new = folder.current_key()
    assert new is not None and new != old and folder.read_state()["state"] == "window"
    return folder, old, new


def test_crashing_at_start_reverts_after_max_crashes(kit: Kit, tmp_path: Path) -> None:
    folder, old, new = _switched_uncommitted(kit, tmp_path)
    for _ in range(3):
        assert note_start(folder.root, "serve", max_crashes=3) is None
        assert folder.current_key() == new
    reason = note_start(folder.root, "serve", max_crashes=3)
    assert reason is not None and "crashed 3 times at start" in reason
    assert folder.current_key() == old
    record = folder.read_state()
    assert record["state"] == "rolled_back" and "crashed 3 times at start" in record["reason"]
    assert not (folder.boots / new).exists()
    assert note_start(folder.root, "serve", max_crashes=3) is None  # nothing uncommitted any more


def test_roles_count_separately_and_commit_clears(kit: Kit, tmp_path: Path) -> None:
    folder, _old, new = _switched_uncommitted(kit, tmp_path)
    for role in ("serve", "run", "agent"):
        assert note_start(folder.root, role, max_crashes=1) is None
    assert folder.current_key() == new
    # the agent restarts: it counted a second start of role "agent" -> past max_crashes=1: reverted
    agent = Agent(
        folder.root,
        FolderSource(tmp_path / "watch", folder.root, poll_s=0.02),
        kit.ring(),
        hash_check,
        Stuck(),
        margin_bytes=0,
        max_crashes=1,
    )
    assert agent.start() == "rolled_back"
    assert folder.current_key() != new


def test_committed_version_is_never_counted(kit: Kit, tmp_path: Path) -> None:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    bad_bundles.signed_tar(kit, watch / "v1.tar", 1)
    assert agent_once(models, watch, kit.ring()) == "committed"
    folder = ModelsDir(models)
    for _ in range(10):
        assert note_start(models, "serve", max_crashes=1) is None
    assert list(folder.boots.iterdir()) == []
    assert note_start(tmp_path / "no-such-folder", "serve") is None
