"""Test traffic for the OTA window: a models folder and a thread serving it as ``run --models`` does.

``install(models_dir, bundle)`` copies a bundle into ``versions/<key>`` and
``switch(models_dir, key)`` points ``current`` at it (``previous`` at the old one).
``FollowingServer`` follows ``current`` (polls the link), loads each new version
with a real ``Predictor`` beside the old one, runs frames through whichever answers,
and reports through a real ``edgeloop.agent.stats.StatsFile``. ``live_release`` puts
them together: serve the old version, switch to the new one, run a window.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeloop.agent.contract import Verdict, VersionRef, Window
from edgeloop.agent.layout import CURRENT, PREVIOUS, VERSIONS, current_bundle, version_key
from edgeloop.agent.stats import StatsFile
from edgeloop.bundle import read_manifest
from edgeloop.predictor import Predictor
from edgeloop.types import Detections


def install(models_dir: Path, bundle: Path, key: str | None = None) -> str:
    """Copy ``bundle`` to ``versions/<key>``; the key defaults to ``<counter:08d>-<version>``."""
    if key is None:
        manifest = read_manifest(bundle)
        key = f"{manifest.counter or 0:08d}-{manifest.version}"
    dest = models_dir / VERSIONS / key
    if not dest.exists():
        shutil.copytree(bundle, dest)
    return key


def _link(models_dir: Path, name: str, key: str) -> None:
    tmp = models_dir / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(f"{VERSIONS}/{key}", tmp)
    os.replace(tmp, models_dir / name)


def switch(models_dir: Path, key: str) -> None:
    """Point ``current`` at ``versions/<key>`` and ``previous`` at what ``current`` was."""
    old = current_bundle(models_dir)
    if old is not None:
        _link(models_dir, PREVIOUS, version_key(old))
    _link(models_dir, CURRENT, key)


class FollowingServer:
    """Serves ``frames`` from the version ``current`` points at, in a thread, reporting to a StatsFile.

    ``frame_interval_s`` paces the frames. A version that fails to load is reported with
    ``load_failed`` and the previous one keeps answering.
    """

    def __init__(
        self,
        models_dir: Path,
        frames: Iterator[np.ndarray],
        role: str = "run",
        frame_interval_s: float = 0.0,
        poll_s: float = 0.2,
    ) -> None:
        self.models_dir = models_dir
        self.frames = frames
        self.frame_interval_s = frame_interval_s
        self.poll_s = poll_s
        self.stats = StatsFile(models_dir, role)
        self.served = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="following-server", daemon=True)

    def __enter__(self) -> FollowingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.stats.close()

    def _load(self, bundle: Path) -> Predictor | None:
        key = version_key(bundle)
        try:
            predictor = Predictor(bundle)
        except Exception as exc:
            self.stats.load_failed(key, f"{type(exc).__name__}: {exc}")
            return None
        self.stats.serving(key)
        return predictor

    def _run(self) -> None:
        bundle = current_bundle(self.models_dir)
        predictor = self._load(bundle) if bundle is not None else None
        key = version_key(bundle) if bundle is not None and predictor is not None else None
        checked = time.monotonic()
        tried: set[str] = set()
        while not self._stop.is_set():
            if time.monotonic() - checked >= self.poll_s:
                checked = time.monotonic()
                target = current_bundle(self.models_dir)
                if target is not None and version_key(target) not in (key, *tried):
                    fresh = self._load(target)
                    if fresh is None:
                        tried.add(version_key(target))
                    else:
                        if predictor is not None:
                            predictor.close()
                        predictor, key = fresh, version_key(target)
            if predictor is None or key is None:
                self._stop.wait(self.poll_s)
                continue
            frame = next(self.frames)
            start = time.perf_counter()
            try:
                result = predictor.predict(frame)
                ok = True
            except Exception:
                result, ok = None, False
            latency_ms = (time.perf_counter() - start) * 1000.0
            n, conf = (
                (len(result), float(np.sum(result.confidence)))
                if isinstance(result, Detections)
                else (0, 0.0)
            )
            self.stats.record(key, latency_ms, ok, n, conf)
            self.served += 1
            if self.frame_interval_s:
                self._stop.wait(self.frame_interval_s)
        if predictor is not None:
            predictor.close()


def live_release(
    models_dir: Path,
    old_bundle: Path,
    new_bundle: Path,
    window: Window,
    frames: Iterator[np.ndarray],
    warm_requests: int = 150,
) -> Verdict:
    """Serve ``old_bundle`` for ``warm_requests`` frames, switch to ``new_bundle``, run ``window``."""
    old_key = install(models_dir, old_bundle)
    switch(models_dir, old_key)
    with FollowingServer(models_dir, frames, poll_s=0.1) as server:
        deadline = time.monotonic() + 60.0
        while server.served < warm_requests and time.monotonic() < deadline:
            time.sleep(0.05)
        server.stats.flush()
        new_key = install(models_dir, new_bundle)
        switch(models_dir, new_key)
        old_m, new_m = read_manifest(old_bundle), read_manifest(new_bundle)
        old = VersionRef(old_key, old_m.name, old_m.version, old_m.counter)
        new = VersionRef(new_key, new_m.name, new_m.version, new_m.counter)
        return window(models_dir, new, old, threading.Event())
