"""``serve --models DIR``: the server follows the models folder's ``current`` link.

The new version is loaded beside the old one, checked (same model name, golden
samples pass) and warmed up while the old one keeps answering; then one
``ModelManager.install`` swaps it in. Requests already queued on the old worker
finish there; one that reaches the old worker after it closed is run again on
the new one (``ModelManager.call``), so no request fails across a switch. A
version that does not load leaves the old one serving.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeloop.agent.contract import UsageRecorder
from edgeloop.errors import BundleError
from edgeloop.serve.manager import ModelManager
from edgeloop.serve.worker import ModelWorker
from edgeloop.stream.follow import FolderWatcher, warm_up

ROLE = "serve"


def _check(worker: ModelWorker, name: str) -> None:
    if worker.name != name:
        raise BundleError(
            f"it is named '{worker.name}', the served model is '{name}': clients ask for a model by "
            f"name, so a version must keep it (set \"name\" in its bundle.json to '{name}')"
        )
    if not worker.ready:
        failed = [c.file for c in worker.samples if not c.ok]
        raise BundleError(f"its golden samples give other results than recorded: {', '.join(failed)}")


def swapper(manager: ModelManager, name: str, recorder: UsageRecorder) -> Callable[[Path, str], None]:
    """``on_change`` for the watcher: load ``bundle`` as version ``key`` of model ``name`` and swap it in."""

    def swap(bundle: Path, key: str) -> None:
        worker = manager.prepare(bundle)
        try:
            _check(worker, name)
            warm_up(worker.predictor)
        except Exception:
            worker.close()
            raise
        worker.key, worker.recorder = key, recorder
        manager.install(worker)

    return swap


def follow(
    manager: ModelManager,
    models_dir: Path,
    first: ModelWorker,
    key: str,
    recorder: UsageRecorder,
    say: Callable[[str], None] | None = None,
    poll_s: float = 0.5,
) -> FolderWatcher:
    """Start following ``models_dir``: ``first`` (already serving) is version ``key``."""
    first.key, first.recorder = key, recorder
    recorder.serving(key)
    watcher = FolderWatcher(models_dir, key, swapper(manager, first.name, recorder), recorder, poll_s, say)
    return watcher.start()
