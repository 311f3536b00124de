"""Following a models folder: ``serve --models`` and ``run --models`` serve what ``current`` points at.

A ``FolderWatcher`` thread polls ``<models>/current`` (about every half second).
When it points somewhere new, ``on_change(bundle_dir, key)`` loads that version
beside the one serving and swaps it in; if that raises, the old version keeps
serving, the recorder hears ``load_failed`` and the watcher waits for the link
to change again (it does not retry the same key in a loop).

The agent owns the folder (``edgeloop.agent.layout``); these processes only read it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeloop.agent.contract import UsageRecorder
from edgeloop.agent.layout import current_bundle, version_key
from edgeloop.agent.stats import StatsFile
from edgeloop.errors import ConfigError
from edgeloop.predictor import Predictor, Result
from edgeloop.types import Classification, Detections

log = logging.getLogger("edgeloop.follow")

POLL_S = 0.5
GREY = 114


def open_recorder(models_dir: Path, role: str) -> UsageRecorder:
    """The stats file the agent's health window reads (``<models>/health/<role>-<pid>.json``)."""
    return StatsFile(models_dir, role)


def note_start(models_dir: Path, role: str) -> str | None:
    """Count this start against a version not yet committed (the agent reverts one that keeps crashing)."""
    from edgeloop.agent.boot import note_start as agent_note_start

    return agent_note_start(models_dir, role)


def first_bundle(models_dir: Path) -> Path:
    """The bundle ``current`` points at now.

    Raises:
        ConfigError: no ``current`` link (or it points at nothing).
    """
    bundle = current_bundle(models_dir)
    if bundle is None:
        raise ConfigError(
            f"{models_dir} has no current version (no 'current' link to a folder under versions/); "
            f"install one with `edgeloop agent --watch DIR --models {models_dir} ...`, or give a bundle"
        )
    return bundle


def usage(result: Result) -> tuple[int, float]:
    """(detections, confidence sum) of one result, for the recorder (classification: 1, top score)."""
    if isinstance(result, Detections):
        return len(result.confidence), float(result.confidence.sum())
    if isinstance(result, Classification):
        return 1, float(result.probabilities.max()) if result.probabilities.size else 0.0
    return 0, 0.0


def warm_up(predictor: Predictor, runs: int = 2) -> None:
    """Run the model on a grey image so its first real requests do not pay for lazy initialisation.

    Raises whatever the backend raises: a model that cannot run once is not swapped in.
    """
    if not predictor.has_decoder:  # a raw bundle's input need not be an image
        return
    h, w = predictor.input_spec.size_hw
    prepared = predictor.prepare(np.full((h, w, 3), GREY, np.uint8))
    for _ in range(runs):
        predictor.finish(predictor.infer(prepared.tensor), prepared)


class FolderWatcher:
    """Polls ``<models>/current`` on a thread and calls ``on_change(bundle_dir, key)`` when it moves.

    Args:
        serving_key: the key already serving (loaded at start).
        on_change: loads and swaps in the version; raising keeps the old one.
    """

    def __init__(
        self,
        models_dir: Path,
        serving_key: str,
        on_change: Callable[[Path, str], None],
        recorder: UsageRecorder,
        poll_s: float = POLL_S,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.key = serving_key
        self.on_change = on_change
        self.recorder = recorder
        self.poll_s = poll_s
        self.say = say or log.info
        self.failed: dict[str, str] = {}  # key -> why it did not load
        self._seen = serving_key
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="follow-models", daemon=True)

    def start(self) -> FolderWatcher:
        self._thread.start()
        return self

    def check(self) -> bool:
        """Look at the link once; whether a new version was swapped in."""
        bundle = current_bundle(self.models_dir)
        if bundle is None:
            return False  # no link (being replaced, or removed): keep serving what we have
        key = version_key(bundle)
        if key == self._seen:
            return False
        self._seen = key  # a failed key is not retried until the link moves again
        if key == self.key:  # back to the version serving (a rollback after a load failure)
            self.say(f"version {key} is serving already")
            return False
        try:
            self.on_change(bundle, key)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.failed[key] = error
            self.recorder.load_failed(key, error)
            self.say(f"version {key} did not load, {self.key} keeps serving: {error}")
            return False
        self.key = key
        self.recorder.serving(key)
        self.say(f"now serving version {key}")
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception:  # never let the watcher die: the next poll tries again
                log.exception("following %s failed", self.models_dir)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
