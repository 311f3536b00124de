"""Bad bundles are refused before they reach versions/: the old version stays, the reason names why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgeloop.agent.models import ModelsDir
from edgeloop.testing import bad_bundles
from edgeloop.testing.agent_kills import agent_once
from edgeloop.testing.bad_bundles import Kit


def _installed_v2(kit: Kit, tmp_path: Path) -> tuple[Path, Path]:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    bad_bundles.signed_tar(kit, watch / "v2.tar", 2)
    assert agent_once(models, watch, kit.ring()) == "committed"
    (watch / "v2.tar").unlink()
    return models, watch


def _garbage(kit: Kit, out: Path) -> Path:
    out.write_bytes(b"hello" * 100)
    return out


BAD: dict[str, tuple[Callable[[Kit, Path], Path], str]] = {
    "tampered": (lambda kit, out: bad_bundles.tampered_tar(kit, out, 5), "Tampered"),
    "unsigned": (lambda kit, out: bad_bundles.unsigned_tar(kit, out, 5), "Unsigned"),
    "unknown key": (lambda kit, out: bad_bundles.unknown_key_tar(kit, out, 5), "UnknownKey"),
    "revoked key": (lambda kit, out: bad_bundles.revoked_key_tar(kit, out, 5), "RevokedKey"),
    "replayed": (lambda kit, out: bad_bundles.replayed_tar(kit, out, 1), "Replayed"),
    "same counter": (lambda kit, out: bad_bundles.signed_tar(kit, out, 2, version="2-rebuilt"), "Replayed"),
    "traversal": (lambda kit, out: bad_bundles.traversal_tar(out), "'..' would escape"),
    "not a tar": (_garbage, "not a readable bundle tar"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_bundle_is_rejected_before_staging_completes(kit: Kit, tmp_path: Path, kind: str) -> None:
    models, watch = _installed_v2(kit, tmp_path)
    folder = ModelsDir(models)
    before = (folder.current_key(), folder.previous_key(), folder.installed())
    make, expected = BAD[kind]
    make(kit, watch / "bad.tar")
    assert agent_once(models, watch, kit.ring()) == "rejected"  # the ring as the device pins it now
    record = folder.read_state()
    assert record["state"] == "rejected"
    assert expected in record["reason"], record["reason"]
    assert (folder.current_key(), folder.previous_key(), folder.installed()) == before
    assert list(folder.staging.iterdir()) == [] and list(folder.downloads.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists() and not (models / "escaped.txt").exists()
    # the outcome is in the history: the same file is not offered again
    assert record["history"][-1]["state"] == "rejected"
    assert agent_once(models, watch, kit.ring()) == "rejected"
    assert len(folder.read_state()["history"]) == len(record["history"])


def test_health_check_failure_rejects_and_drops_the_version(kit: Kit, tmp_path: Path) -> None:
    from edgeloop.agent.agent import Agent
    from edgeloop.agent.basic import WaitWindow
    from edgeloop.agent.contract import Verdict
    from edgeloop.agent.folder import FolderSource

    models, watch = _installed_v2(kit, tmp_path)
    bad_bundles.signed_tar(kit, watch / "v3.tar", 3)
    folder = ModelsDir(models)
    before = folder.installed()
    agent = Agent(
        models,
        FolderSource(watch, models, poll_s=0.02),
        kit.ring(),
        lambda candidate, previous: Verdict(False, "outputs are NaN"),
        WaitWindow(0),
        margin_bytes=0,
    )
    offer = agent.source.next_offer(1.0)
    assert offer is not None
    assert agent.process(offer) == "rejected"
    assert "health check failed: outputs are NaN" in folder.read_state()["reason"]
    assert folder.installed() == before and folder.current_key() == before[-1]


def test_window_failure_rolls_back(kit: Kit, tmp_path: Path) -> None:
    from edgeloop.agent.agent import Agent
    from edgeloop.agent.contract import Verdict
    from edgeloop.agent.folder import FolderSource
    from edgeloop.testing.agent_kills import hash_check

    models, watch = _installed_v2(kit, tmp_path)
    bad_bundles.signed_tar(kit, watch / "v3.tar", 3)
    folder = ModelsDir(models)
    old = folder.current_key()
    agent = Agent(
        models,
        FolderSource(watch, models, poll_s=0.02),
        kit.ring(),
        hash_check,
        lambda models_dir, new, prev, stop: Verdict(False, "p95 latency 3.1x the previous version"),
        margin_bytes=0,
    )
    offer = agent.source.next_offer(1.0)
    assert offer is not None
    assert agent.process(offer) == "rolled_back"
    record = folder.read_state()
    assert "window failed: p95 latency" in record["reason"] and f"reverted to {old}" in record["reason"]
    assert folder.current_key() == old
    # the floor did not move: a fixed release with counter 3 is still taken
    assert folder.counter_floor() == 2
