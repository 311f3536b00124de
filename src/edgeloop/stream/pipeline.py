"""The threaded video pipeline: decode, inference and sinks run concurrently.

    source reader (one thread each) -> bounded queue -> inference (``workers``
    threads, one Predictor shared by all sources through one InferenceSession)
    -> bounded queue -> reorder -> tracking, zones, sinks (one thread)

Throughput approaches the slowest stage instead of the sum of all three:
OpenCV's decoding, ONNX Runtime and video encoding release the GIL. With
several inference workers (each running the model on fewer threads), frames
overlap in inference too (as far as the backend's Capabilities allow: the
session runs one call at a time on backends that are not thread-safe, while
pre- and post-processing of other frames still overlap); results are put back in arrival order before the
sinks, so tracks, zones and video files see frames in sequence. File
sources wait when the queue is full (every frame is processed); live sources
drop their frame instead (freshest frame wins). ``stop()`` (e.g. from a signal
handler) ends the run within a fraction of a second. The caller owns the
sinks (open before, close after, e.g. with ``contextlib.ExitStack``), so files
are complete however the run ends.
"""

from __future__ import annotations

import heapq
import itertools
import os
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeloop.agent.contract import UsageRecorder
from edgeloop.backends import Capabilities
from edgeloop.errors import EdgeloopError, SourceError, Unavailable
from edgeloop.imaging import ImageArray
from edgeloop.postprocess import DecodeOptions
from edgeloop.predictor import Predictor, Result
from edgeloop.session import InferenceSession
from edgeloop.stream.frames import Event, Frame, FrameResult
from edgeloop.stream.sinks.base import Sink
from edgeloop.stream.sources import Source
from edgeloop.stream.zones import ZoneCounter, ZonesConfig
from edgeloop.types import Detections

POLL_S = 0.05


def plan_workers(workers: int, threads: int, capabilities: Capabilities) -> tuple[int, int]:
    """(inference workers, threads per worker) for ``workers``/``threads`` where 0 means auto.

    Auto workers is what the backend prefers (``Capabilities.preferred_workers``: ONNX
    Runtime on a multi-core CPU takes two frames at once, docs/benchmarks.md; GPUs and
    other runtimes schedule their own work: one). Several workers on a backend that sets
    CPU threads share the cores between them.
    """
    cores = os.cpu_count() or 1
    if workers == 0:
        workers = capabilities.preferred_workers
    if workers > 1 and threads == 0 and capabilities.threads_setting:
        threads = max(1, cores // workers)  # workers x threads = cores, no oversubscription
    return workers, threads


def _check_detector(predictor: Predictor) -> None:
    if predictor.task != "detect":
        kind = "a raw bundle (no decoder: use /v2)" if predictor.task == "raw" else "a classifier"
        raise EdgeloopError(f"edgeloop run needs a detection bundle; this one is {kind}")


@dataclass(frozen=True)
class _Model:
    """The model frames run on: closing it waits for the calls in it (the caller's predictor is
    only closed when the pipeline loaded it, ``owned``)."""

    predictor: Predictor
    session: InferenceSession
    key: str | None
    owned: bool

    def close(self) -> None:
        self.session.close()
        if self.owned:
            self.predictor.close()


@dataclass(frozen=True)
class _End:
    source: str
    error: EdgeloopError | None = None


@dataclass
class SourceStats:
    """Counters and recent timings for one source."""

    frames: int = 0
    dropped: int = 0
    events: int = 0
    decode_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    infer_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    sink_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    done_at: deque[float] = field(default_factory=lambda: deque(maxlen=100))

    def snapshot(self) -> dict[str, Any]:
        def med(values: deque[float]) -> float:
            return round(statistics.median(values), 2) if values else 0.0

        times = list(self.done_at)
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        return {
            "frames": self.frames,
            "dropped": self.dropped,
            "events": self.events,
            "fps": round(fps, 2),
            "decode_ms": med(self.decode_ms),
            "infer_ms": med(self.infer_ms),
            "sink_ms": med(self.sink_ms),
            "latency_ms": med(self.latency_ms),
        }


@dataclass
class Summary:
    """What a finished run reports."""

    duration_s: float
    stopped: bool
    sources: dict[str, dict[str, Any]]
    counts: dict[str, dict[str, Any]]
    error: EdgeloopError | None = None

    @property
    def frames(self) -> int:
        return sum(int(s["frames"]) for s in self.sources.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "frames": self.frames,
            "fps": round(self.frames / self.duration_s, 2) if self.duration_s > 0 else 0.0,
            "stopped": self.stopped,
            "sources": self.sources,
            "counts": self.counts,
            "error": str(self.error) if self.error else None,
        }


class Pipeline:
    """Runs ``sources`` through one ``predictor`` into ``sinks``.

    Args:
        zones: when given, detections are tracked and zone/line events emitted per source.
        queue_size: frames waiting between stages (memory bound: 2 x queue_size frames).
        stats_every_s: when > 0, send each source's stats to the sinks as a ``stats`` event this often.
    """

    def __init__(
        self,
        predictor: Predictor,
        sources: Sequence[Source],
        sinks: Sequence[Sink],
        zones: ZonesConfig | None = None,
        options: DecodeOptions | None = None,
        queue_size: int = 4,
        stats_every_s: float = 0.0,
        workers: int = 1,
        key: str | None = None,
        recorder: UsageRecorder | None = None,
    ) -> None:
        _check_detector(predictor)
        if workers < 1:
            raise EdgeloopError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._model = _Model(predictor, self._session(predictor), key, owned=False)
        self.recorder = recorder
        self.sources = list(sources)
        self.sinks = list(sinks)
        self.options = options
        self.stats_every_s = stats_every_s
        self.counters = {s.name: ZoneCounter(zones, s.name, s.fps) for s in self.sources} if zones else {}
        self.stats = {s.name: SourceStats() for s in self.sources}
        self._stop = threading.Event()
        self._stopped_by_user = False
        self._in: queue.Queue[Frame | Event | _End] = queue.Queue(queue_size)
        # (arrival number, item): workers finish out of order; the sink stage restores it.
        self._out: queue.Queue[tuple[int, FrameResult | Event | _End | None]] = queue.Queue(
            queue_size + workers
        )
        self._take = threading.Lock()  # taking an item and numbering it is one step
        self._numbers = itertools.count()
        self._ended = 0
        self._errors: list[EdgeloopError] = []
        self._lock = threading.Lock()

    def _session(self, predictor: Predictor) -> InferenceSession:
        # Workers call in on their own threads (no hand-off); at most `workers` wait at once.
        return InferenceSession(predictor, queue_size=self.workers + 1, workers=self.workers)

    @property
    def predictor(self) -> Predictor:
        """The model answering now (it changes with ``swap``)."""
        return self._model.predictor

    @property
    def key(self) -> str | None:
        return self._model.key

    def swap(self, predictor: Predictor, key: str) -> None:
        """Answer with ``predictor`` (version ``key``) from the next frame on; the pipeline closes it.

        A frame runs wholly on the model it started with; frames in inference on the old model
        finish there (or, if they reach it after it closed, run again on the new one): every frame
        gets exactly one result from one complete version.
        """
        _check_detector(predictor)
        new = _Model(predictor, self._session(predictor), key, owned=True)
        old, self._model = self._model, new  # one assignment: atomic for the worker threads
        old.close()

    def stop(self) -> None:
        """Ask the run to end soon (safe from signal handlers and other threads)."""
        self._stopped_by_user = True
        self._stop.set()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per-source stats now: frames, dropped, events, fps and median stage times."""
        with self._lock:
            snap = {name: s.snapshot() for name, s in self.stats.items()}
        for source in self.sources:
            snap[source.name]["dropped"] += source.dropped
        return snap

    def _put(self, q: queue.Queue[Any], item: Any, drop: bool = False) -> bool:
        """Put unless stopping; with ``drop``, give up at once when the queue is full."""
        if drop:
            try:
                q.put_nowait(item)
                return True
            except queue.Full:
                return False
        while not self._stop.is_set():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def _read(self, source: Source) -> None:
        error: EdgeloopError | None = None
        try:
            for item in source.frames(self._stop):
                if not self._put(self._in, item, drop=source.live and isinstance(item, Frame)):
                    if self._stop.is_set():
                        break
                    with self._lock:
                        self.stats[source.name].dropped += 1
        except EdgeloopError as exc:
            error = exc
        except Exception as exc:  # a decoder crash must end the run with a message, not hang it
            error = SourceError(f"{source.name}: reading failed: {exc}")
        if error is not None:
            self._stop.set()  # a source that gave up ends the run, so a supervisor can restart it
        self._put_end(self._in, _End(source.name, error))

    def _put_end(self, q: queue.Queue[Any], end: Any) -> None:
        # Ends must arrive even while stopping, or the next stage would wait forever; the
        # next stage keeps draining its queue while stopping, so this put always completes.
        q.put(end)

    def _next(self) -> tuple[int, Frame | Event | _End] | None:
        """The next input and its arrival number; None once every source has ended."""
        with self._take:
            while self._ended < len(self.sources):
                try:
                    item = self._in.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    self._ended += 1
                return next(self._numbers), item
        return None

    def _infer(self) -> None:
        while (taken := self._next()) is not None:
            number, item = taken
            if isinstance(item, _End):
                self._put_end(self._out, (number, item))
                continue
            out: FrameResult | Event | None = None
            if isinstance(item, Event):
                out = item
            elif not self._stop.is_set():  # stopping: drain without work so readers can finish
                started = time.perf_counter()
                try:
                    result, infer_s, key = self._predict(item.image)
                except Exception as exc:  # a runtime crash must end the run with a message, not hang it
                    if self.recorder is not None and self.key is not None:
                        self.recorder.record(self.key, (time.perf_counter() - started) * 1000, False, 0, 0.0)
                    error = (
                        exc if isinstance(exc, EdgeloopError) else EdgeloopError(f"inference failed: {exc}")
                    )
                    self._errors.append(error)
                    self._stop.set()
                else:
                    assert isinstance(result, Detections)
                    out = FrameResult(item, result, infer_s, model=key)
                    if self.recorder is not None and key is not None:
                        confidence = float(result.confidence.sum())
                        self.recorder.record(key, infer_s * 1000, True, len(result.confidence), confidence)
            # Every number reaches the sink stage, work or not, so reordering never waits on a gap.
            self._put(self._out, (number, out))

    def _predict(self, image: ImageArray) -> tuple[Result, float, str | None]:
        """``predictor.predict`` with inference through the shared session; its seconds, and the
        version that answered (a frame that meets a model closed by ``swap`` runs on its successor)."""
        for attempt in range(3):
            model = self._model
            start = time.perf_counter()
            try:
                array, size_wh = model.predictor.decode(image)
                prepared = model.predictor.prepare(array, size_wh)
                outputs = model.session.run(prepared.tensor)
            except Unavailable:
                if attempt == 2:
                    raise
                continue
            result = model.predictor.finish(outputs, prepared, self.options)
            return result, time.perf_counter() - start, model.key
        raise AssertionError("unreachable")

    def _deliver(self) -> None:
        ended = 0
        waiting: list[tuple[int, int, FrameResult | Event | _End | None]] = []  # heap by number
        expected = 0
        tie = itertools.count()
        while ended < len(self.sources):
            number, item = self._out.get()
            heapq.heappush(waiting, (number, next(tie), item))
            # In order while running; when stopping, numbers may be missing (results dropped),
            # and only the ends still matter.
            while waiting and (waiting[0][0] == expected or self._stop.is_set()):
                number, _, ready = heapq.heappop(waiting)
                expected = number + 1
                if isinstance(ready, _End):
                    ended += 1
                    if ready.error is not None:
                        self._errors.append(ready.error)
                elif ready is not None:
                    self._deliver_one(ready)

    def _deliver_one(self, item: FrameResult | Event) -> None:
        if self._stop.is_set() and isinstance(item, FrameResult):
            return
        t0 = time.perf_counter()
        try:
            self._sink_one(item)
        except EdgeloopError as exc:
            self._errors.append(exc)
            self._stop.set()
            return
        if isinstance(item, FrameResult):
            self._record(item, time.perf_counter() - t0)

    def _sink_one(self, item: FrameResult | Event) -> None:
        if isinstance(item, Event):
            with self._lock:
                self.stats[item.source].events += 1
            for sink in self.sinks:
                sink.event(item)
            return
        counter = self.counters.get(item.frame.source)
        if counter is not None:
            time_s = item.frame.pts_s if item.frame.pts_s is not None else item.frame.captured_s
            item.detections, item.tracker_id, item.events = counter.update(item.detections, time_s)
            item.overlay = counter.overlay()
        for sink in self.sinks:
            sink.write(item)
            for event in item.events:
                sink.event(event)

    def _record(self, item: FrameResult, sink_s: float) -> None:
        now = time.monotonic()
        with self._lock:
            s = self.stats[item.frame.source]
            s.frames += 1
            s.events += len(item.events)
            s.decode_ms.append(item.frame.decode_s * 1000)
            s.infer_ms.append(item.infer_s * 1000)
            s.sink_ms.append(sink_s * 1000)
            s.latency_ms.append((now - item.frame.captured_s) * 1000)
            s.done_at.append(now)

    def run(
        self,
        on_status: Callable[[dict[str, dict[str, Any]]], None] | None = None,
        status_every_s: float = 0.5,
    ) -> Summary:
        """Run until every source ends, ``stop()`` is called, or an error; sinks are closed after.

        The first error (a source that never came up, a sink that failed) is in ``Summary.error``.
        """
        started = time.monotonic()
        threads = [
            threading.Thread(target=self._read, args=(s,), name=f"read-{s.name}") for s in self.sources
        ]
        threads += [threading.Thread(target=self._infer, name=f"infer-{i}") for i in range(self.workers)]
        threads.append(threading.Thread(target=self._deliver, name="sinks"))
        for thread in threads:
            thread.daemon = True
            thread.start()
        last = last_stats = time.monotonic()
        while any(t.is_alive() for t in threads):
            threads[-1].join(timeout=POLL_S)
            if on_status is not None and time.monotonic() - last >= status_every_s:
                last = time.monotonic()
                on_status(self.snapshot())
            if self.stats_every_s > 0 and time.monotonic() - last_stats >= self.stats_every_s:
                last_stats = time.monotonic()
                for name, stats in self.snapshot().items():  # never blocks: skipped when sinks lag
                    self._put(self._in, Event("stats", name, stats), drop=True)
        self._model.close()
        counts = {name: c.summary() for name, c in self.counters.items()}
        return Summary(
            time.monotonic() - started,
            self._stopped_by_user,
            self.snapshot(),
            counts,
            self._errors[0] if self._errors else None,
        )
