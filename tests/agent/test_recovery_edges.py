"""Recovery and reporting edges: an interrupted download, a revert the agent did not record, one a
serving process made during the window."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

from edgeloop.agent.agent import Agent
from edgeloop.agent.basic import WaitWindow
from edgeloop.agent.boot import note_start
from edgeloop.agent.contract import Offer, Verdict, VersionRef
from edgeloop.agent.folder import FolderSource
from edgeloop.agent.hubclient import HubSource
from edgeloop.agent.models import ModelsDir
from edgeloop.testing import bad_bundles
from edgeloop.testing.agent_kills import agent_once, hash_check
from edgeloop.testing.bad_bundles import Kit


def _installed_v2(kit: Kit, tmp_path: Path) -> tuple[Path, Path]:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    bad_bundles.signed_tar(kit, watch / "v2.tar", 2)
    assert agent_once(models, watch, kit.ring()) == "committed"
    (watch / "v2.tar").unlink()
    return models, watch


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_interrupted_download_is_not_a_rejection(kit: Kit, tmp_path: Path) -> None:
    """The hub going away mid-download must not reject the version (that would halt its rollout)."""
    models, _watch = _installed_v2(kit, tmp_path)
    source = HubSource(f"http://127.0.0.1:{_closed_port()}", "token", models, timeout_s=2.0)
    try:
        agent = Agent(models, source, kit.ring(), hash_check, WaitWindow(0), margin_bytes=0)
        url = "/api/v1/device/bundle/x/3"
        offer = Offer("colour", "3", 3, 1000, "ab" * 32, "hub", rollout=1, location=url)
        assert agent.process(offer) == "idle"
        record = ModelsDir(models).read_state()
        assert record["state"] == "idle" and "download interrupted" in record["reason"]
        assert not source.has(offer)  # offered again once the hub answers
        assert all(body["state"] != "rejected" for body in list(source._queue))
    finally:
        source._stop.set()
        source._thread.join(5)
        source.client.close()
        source._sender.close()


class _RevertThenDie:
    """A window during which the agent's revert happens and the agent dies before recording it."""

    def __call__(self, models_dir: Path, new: VersionRef, old: VersionRef | None, stop: object) -> Verdict:
        assert old is not None
        ModelsDir(models_dir).revert(old.key)
        raise KeyboardInterrupt  # not an Exception: nothing after it runs, as with a SIGKILL


def test_a_revert_not_yet_recorded_is_not_undone_by_recovery(kit: Kit, tmp_path: Path) -> None:
    models, watch = _installed_v2(kit, tmp_path)
    folder = ModelsDir(models)
    old = folder.current_key()
    bad_bundles.signed_tar(kit, watch / "v3.tar", 3)
    agent = Agent(models, FolderSource(watch, models, poll_s=0.02), kit.ring(), hash_check, _RevertThenDie())
    agent.margin_bytes = 0
    offer = agent.source.next_offer(1.0)
    assert offer is not None
    with contextlib.suppress(KeyboardInterrupt):
        agent.process(offer)
    assert folder.read_state()["state"] == "window" and folder.current_key() == old
    again = Agent(models, FolderSource(watch, models, poll_s=0.02), kit.ring(), hash_check, WaitWindow(0))
    assert again.start() == "rolled_back"
    assert folder.current_key() == old  # not switched back to the version being reverted


def test_a_revert_by_a_serving_process_is_reported(kit: Kit, tmp_path: Path) -> None:
    models, watch = _installed_v2(kit, tmp_path)
    folder = ModelsDir(models)
    old = folder.current_key()
    bad_bundles.signed_tar(kit, watch / "v3.tar", 3)

    def window(models_dir: Path, new: VersionRef, prev: VersionRef | None, stop: object) -> Verdict:
        assert note_start(models_dir, "serve", max_crashes=0) is not None  # crashed at start: reverted
        return Verdict(True)

    agent = Agent(models, FolderSource(watch, models, poll_s=0.02), kit.ring(), hash_check, window)
    agent.margin_bytes = 0
    offer = agent.source.next_offer(1.0)
    assert offer is not None
    assert agent.process(offer) == "rolled_back"
    assert folder.current_key() == old
    reports = [json.loads(line) for line in (models / "reports.jsonl").read_text().splitlines()]
    assert reports[-1]["state"] == "rolled_back" and "crashed" in reports[-1]["reason"]
    assert folder.read_state()["report_pending"] is False


def test_repeated_reports_while_the_hub_is_away_do_not_pile_up(tmp_path: Path) -> None:
    source = HubSource(f"http://127.0.0.1:{_closed_port()}", "token", tmp_path, timeout_s=1.0)
    try:
        offer = Offer("colour", "3", 3, 1000, "ab" * 32, "hub", rollout=1, location="/x")
        for i in range(50):
            source.report(offer, "downloading", f"attempt {i}")
        assert source.pending() <= 2
        source.report(offer, "rejected", "no")
        assert list(source._queue)[-1]["state"] == "rejected"
    finally:
        source._stop.set()
        source._thread.join(5)
        source.client.close()
        source._sender.close()
