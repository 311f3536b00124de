"""The watched folder offers only complete drops; bundle folders work as tars do; gc keeps what it must."""

from __future__ import annotations

from pathlib import Path

from edgeloop.agent.folder import FolderSource
from edgeloop.agent.models import ModelsDir
from edgeloop.testing import bad_bundles
from edgeloop.testing.agent_kills import agent_once
from edgeloop.testing.bad_bundles import Kit


def test_partial_and_growing_files_are_not_offered(kit: Kit, tmp_path: Path) -> None:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    ModelsDir(models).ensure()
    full = bad_bundles.signed_tar(kit, tmp_path / "v1.tar", 1).read_bytes()
    (watch / "v1.tar.partial").write_bytes(full)
    (watch / ".hidden.tar").write_bytes(full)
    source = FolderSource(watch, models, poll_s=0.01)
    assert source.next_offer(0.1) is None
    growing = watch / "v1.tar"
    growing.write_bytes(full[:1000])
    assert source.scan() is None  # first sight
    growing.write_bytes(full[:5000])
    assert source.scan() is None  # changed since the last poll
    growing.write_bytes(full)
    assert source.scan() is None
    offer = source.scan()  # the same on two polls: complete
    assert (
        offer is not None and offer.counter == 1 and offer.name == "colour" and offer.size_bytes == len(full)
    )


def test_a_dropped_bundle_folder_is_installed(kit: Kit, tmp_path: Path) -> None:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    bad_bundles.signed_folder(kit, watch / "release-1", 1)
    assert agent_once(models, watch, kit.ring()) == "committed"
    folder = ModelsDir(models)
    assert folder.current_key() is not None and folder.current_key().startswith("00000001-")  # type: ignore[union-attr]


def test_gc_keeps_current_previous_and_newest(kit: Kit, tmp_path: Path) -> None:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    folder = ModelsDir(models)
    for counter in range(1, 6):
        bad_bundles.signed_tar(kit, watch / f"v{counter}.tar", counter)
        assert agent_once(models, watch, kit.ring()) == "committed"
    installed = folder.installed()
    assert [k[:8] for k in installed] == ["00000004", "00000005"]  # keep_versions=2: previous and current
    assert folder.current_key() == installed[-1] and folder.previous_key() == installed[-2]
    assert (models / "current").readlink() == Path("versions") / installed[-1]  # relative link
    assert folder.read_state()["counter_floor"] == 5
