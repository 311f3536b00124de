"""The set of served models: load, unload and reload without dropping requests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edgeloop.errors import ModelNotFound, Unavailable
from edgeloop.predictor import Predictor
from edgeloop.serve.config import ServeConfig
from edgeloop.serve.metrics import Metrics, labels
from edgeloop.serve.worker import ModelWorker

T = TypeVar("T")


class ModelManager:
    """Name -> ModelWorker. Swaps are atomic; replaced workers finish their queue first."""

    def __init__(self, config: ServeConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self._workers: dict[str, ModelWorker] = {}
        self._sources: dict[str, str] = {}
        self._lock = threading.Lock()
        metrics.gauge(
            "edgeloop_queue_depth",
            "Requests waiting per model",
            lambda: {labels(model=n): float(w.queue_depth) for n, w in self.items()},
        )
        metrics.gauge(
            "edgeloop_model_ready",
            "1 when the model passed its golden samples",
            lambda: {labels(model=n): float(w.ready) for n, w in self.items()},
        )

    def items(self) -> list[tuple[str, ModelWorker]]:
        with self._lock:
            return list(self._workers.items())

    def names(self) -> list[str]:
        with self._lock:
            return list(self._workers)

    def get(self, name: str, version: str | None = None) -> ModelWorker:
        """The worker serving ``name`` (and ``version`` when given)."""
        with self._lock:
            worker = self._workers.get(name)
        if worker is None:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFound(f"unknown model '{name}' (loaded: {known})")
        if version is not None and version != worker.version:
            raise ModelNotFound(f"model '{name}' has version {worker.version}, not {version}")
        return worker

    def call(self, name: str, version: str | None, fn: Callable[[ModelWorker], T]) -> T:
        """Run ``fn`` with the current worker for ``name``; if that worker is being
        replaced meanwhile, run it again with the replacement (blocking; call off the event loop)."""
        for attempt in range(3):
            worker = self.get(name, version)
            try:
                return fn(worker)
            except Unavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def load(self, path: str | Path) -> ModelWorker:
        """Load (or replace) the bundle at ``path``; the new model serves once it is ready to."""
        return self.install(self.prepare(path))

    def prepare(self, path: str | Path) -> ModelWorker:
        """Load the bundle at ``path`` into a worker that serves nothing yet (``install`` swaps it in)."""
        config = self.config
        predictor = Predictor(path, config.backend, max_pixels=config.max_pixels)
        try:
            worker = ModelWorker(
                predictor,
                str(path),
                self.metrics,
                config.queue_size,
                config.max_batch,
                config.max_wait_ms,
                config.check_samples,
            )
        except Exception:
            predictor.close()
            raise
        return worker

    def install(self, worker: ModelWorker) -> ModelWorker:
        """Serve ``worker`` under its name from now on; the one it replaces finishes its queue first."""
        with self._lock:
            old = self._workers.get(worker.name)
            if old is not None and worker.key is None and old.source == worker.source:  # a reload
                worker.key, worker.recorder = old.key, old.recorder
            self._workers[worker.name] = worker
            self._sources[worker.name] = worker.source
        if old is not None:
            threading.Thread(target=old.close, name=f"retire-{old.name}", daemon=True).start()
        return worker

    def reload(self, name: str) -> ModelWorker:
        """Load ``name`` again from where it came from."""
        with self._lock:
            source = self._sources.get(name)
        if source is None:
            raise ModelNotFound(f"unknown model '{name}': nothing to reload")
        return self.load(source)

    def unload(self, name: str) -> None:
        """Stop serving ``name``; calls already queued still complete."""
        with self._lock:
            worker = self._workers.pop(name, None)
        if worker is None:
            raise ModelNotFound(f"unknown model '{name}'")
        worker.close()

    def index(self) -> list[dict[str, str]]:
        """Every model known (loaded or once loaded), OIP repository-index style."""
        with self._lock:
            loaded = dict(self._workers)
            sources = dict(self._sources)
        return [
            {
                "name": n,
                "version": loaded[n].version if n in loaded else "",
                "state": "READY"
                if n in loaded and loaded[n].ready
                else ("UNAVAILABLE" if n in loaded else "UNLOADED"),
            }
            for n in sources
        ]

    def source_of(self, name: str) -> str | None:
        with self._lock:
            return self._sources.get(name)

    @property
    def ready(self) -> bool:
        items = self.items()
        return bool(items) and all(w.ready for _, w in items)

    def close(self) -> None:
        for name in self.names():
            self.unload(name)
