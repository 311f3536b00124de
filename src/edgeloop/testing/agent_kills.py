"""Kill the update agent with SIGKILL at each named point and check the models folder after.

One run: a models folder where version 1 is committed (copied from a prepared
one), version 2's tar dropped into the watched folder, an agent in a forked
child with the crash point set (the same switch as ``EDGELOOP_CRASH_AT``)
that must die by SIGKILL; then ``current`` is checked (complete old or complete
new version: key one of the two, verified against the key ring: signature,
every file, nothing extra), a second child restarts the agent with no crash
point and must finish (recovery plus, where needed, the offer again), and
``current`` is checked again: it must be version 2 and load in the Predictor.

Counts: ``mix`` (current names something else or does not verify), ``none``
(no current), ``failed`` (the child did not die at the point, the restart did
not end in committed v2, or it did not load).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgeloop.agent.agent import Agent
from edgeloop.agent.basic import WaitWindow
from edgeloop.agent.contract import Verdict
from edgeloop.agent.folder import FolderSource
from edgeloop.agent.layout import current_bundle
from edgeloop.agent.models import ModelsDir
from edgeloop.bundle import load_bundle
from edgeloop.errors import EdgeloopError
from edgeloop.improve import faults
from edgeloop.improve.faults import AGENT_POINTS
from edgeloop.signing import Keyring, verify_bundle
from edgeloop.testing.bad_bundles import Kit, signed_tar


def hash_check(candidate: Path, previous: Path | None) -> Verdict:
    """A health check for tests: the candidate's files match its manifest."""
    try:
        load_bundle(candidate)
    except EdgeloopError as exc:
        return Verdict(False, str(exc))
    return Verdict(True)


def make_agent(models: Path, watch: Path, keyring: Keyring) -> Agent:
    source = FolderSource(watch, models, poll_s=0.02)
    return Agent(models, source, keyring, hash_check, WaitWindow(0.0), margin_bytes=0)


def agent_once(models: Path, watch: Path, keyring: Keyring) -> str | None:
    """Start (recover), then process one offer if one is there; the final state reached."""
    agent = make_agent(models, watch, keyring)
    final = agent.start()
    if final is not None:
        return final
    offer = agent.source.next_offer(0.5)
    if offer is None:  # nothing new: what state.json says (e.g. committed just before a kill)
        return str(agent.models.read_state().get("state"))
    return agent.process(offer)


def _child(models: Path, watch: Path, keyring: Keyring, point: str | None) -> int:
    """Run ``agent_once`` in a forked child; its wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 3
        try:
            faults._CRASH_AT = point
            final = agent_once(models, watch, keyring)
            code = 0 if final == "committed" else 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


@dataclass
class Fixture:
    """A committed version 1 (models folder to copy) and version 2's tar."""

    template: Path
    new_tar: Path
    old_key: str
    keyring: Keyring


def prepare(folder: Path, kit: Kit) -> Fixture:
    folder.mkdir(parents=True, exist_ok=True)
    models, watch = folder / "models", folder / "watch"
    watch.mkdir()
    signed_tar(kit, watch / "v1.tar", 1)
    ring = kit.ring()
    if agent_once(models, watch, ring) != "committed":
        raise RuntimeError(f"installing version 1 failed: {ModelsDir(models).read_state()}")
    (watch / "v1.tar").unlink()
    old_key = ModelsDir(models).current_key()
    assert old_key is not None
    new_tar = signed_tar(kit, folder / "v2.tar", 2)
    return Fixture(models, new_tar, old_key, ring)


def check_current(models: Path, ring: Keyring, old_key: str) -> str:
    """``ok``, ``none`` or ``mix`` for what ``current`` names now (the old key or a counter-2 one)."""
    bundle = current_bundle(models)
    if bundle is None:
        return "none"
    if bundle.name != old_key and not bundle.name.startswith("00000002-"):
        return "mix"
    try:
        verify_bundle(bundle, ring)
    except EdgeloopError:
        return "mix"
    return "ok"


@dataclass
class KillCounts:
    tried: int = 0
    mix: int = 0
    none: int = 0
    failed: int = 0
    why: Counter[str] = field(default_factory=Counter)


def kill_run(fx: Fixture, work: Path, point: str, counts: KillCounts, load: bool = True) -> None:
    """One kill at ``point`` and one restart; adds to ``counts``."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    models, watch = work / "models", work / "watch"
    shutil.copytree(fx.template, models, symlinks=True)
    watch.mkdir()
    shutil.copyfile(fx.new_tar, watch / "v2.tar")
    counts.tried += 1
    status = _child(models, watch, fx.keyring, point)
    if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        counts.failed += 1
        counts.why[f"not killed (status {status})"] += 1
    before = ModelsDir(models).current_key()
    seen = check_current(models, fx.keyring, fx.old_key)
    if seen != "ok":
        setattr(counts, seen, getattr(counts, seen) + 1)
        counts.why[f"after kill: {seen} ({before})"] += 1
        return
    status = _child(models, watch, fx.keyring, None)
    record = ModelsDir(models).read_state()
    seen = check_current(models, fx.keyring, fx.old_key)
    if seen != "ok":
        setattr(counts, seen, getattr(counts, seen) + 1)
        counts.why[f"after restart: {seen}"] += 1
        return
    current = current_bundle(models)
    assert current is not None
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not current.name.startswith("00000002-"):
        counts.failed += 1
        counts.why[f"restart: status {status}, state {record.get('state')}: {record.get('reason')}"] += 1
        return
    if load:
        from edgeloop.predictor import Predictor

        with Predictor(current) as predictor:
            predictor.bundle.manifest.variant()


def all_points() -> tuple[str, ...]:
    return AGENT_POINTS
