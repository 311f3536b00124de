"""``Capture``: samplers, policy, privacy, budget and spool behind one call per frame.

For users' own loops::

    with Capture(load_policy("policy.yaml"), Spool("spool/"), model=ModelRef("parts", "3")) as capture:
        for frame in frames:
            detections = predictor.predict(frame)
            decision = capture.offer(frame, detections)
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from edgeloop.errors import ImageError
from edgeloop.imaging import ImageArray, encode_jpeg
from edgeloop.improve.diskguard import DiskGuard, failure_reason
from edgeloop.improve.limits import RateLimiter
from edgeloop.improve.policy import CapturePolicy, SamplerPolicy
from edgeloop.improve.privacy import boxes_of, dropped_class, expand, keep_only_boxes, obscure_boxes
from edgeloop.improve.records import SampleRecord, Stored
from edgeloop.improve.samplers import Frame, SamplerContext, Score, features, thumbnail
from edgeloop.improve.samplers.base import uniform
from edgeloop.improve.spool import Spool
from edgeloop.resize import resize_linear
from edgeloop.types import Detections

IMAGE_SAMPLERS = {"novelty", "scene_change"}


@dataclass(frozen=True)
class ModelRef:
    """The model whose predictions are stored with a sample."""

    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class Decision:
    """What happened to one offered frame.

    Attributes:
        kept: whether the frame is now in the spool.
        reason: ``kept`` or the drop reason counted (``not_selected``, ``probability``,
            ``rate_limit:minute|hour|day``, ``privacy_drop``, ``no_crops``, ``duplicate``,
            ``budget``, ``disk_full``, ``io_error``).
        detail: the deciding sampler's reason string, or what caused the drop.
        sampler: the deciding sampler's type, if any.
        score: its score.
        sha256: the stored JPEG's hash, when kept.
        evicted: hashes of samples evicted to make room.
    """

    kept: bool
    reason: str
    detail: str
    sampler: str | None = None
    score: float = 0.0
    sha256: str | None = None
    evicted: tuple[str, ...] = ()


class Capture:
    """Decides, frame by frame, what to keep, and keeps it in a ``Spool``. Thread-safe.

    Args:
        policy: the validated capture policy.
        spool: where kept frames go (the caller closes it, or ``Capture.close`` does).
        device_id: stored with every sample.
        model: default model reference for ``offer``.
        clock: seconds, for rate limits, intervals and counter flushes (monotonic).
        wall_clock: seconds since the epoch, stored with each sample.

    A failed write (full disk, I/O error) drops the frame as ``disk_full`` or
    ``io_error`` and pauses writing with a back-off of at most 4 s
    (``improve.diskguard``); ``capture.disk.state`` says whether it is writing.
    """

    def __init__(
        self,
        policy: CapturePolicy,
        spool: Spool,
        device_id: str = "",
        model: ModelRef | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy, self.spool, self.device_id = policy, spool, device_id
        self.model = model or ModelRef()
        self._clock, self._wall = clock, wall_clock
        seed = policy.seed if policy.seed is not None else secrets.randbits(63)
        self._context = SamplerContext(seed=seed)
        self._class_counts: Counter[str] = Counter()
        self._limits = [RateLimiter(s.limits) for s in policy.samplers]
        self._global = RateLimiter(policy.limits)
        self._sequence = 0
        self._needs_image = any(s.type in IMAGE_SAMPLERS for s in policy.samplers)
        self.disk = DiskGuard(spool.root, policy.budget.min_free_bytes, clock)
        #: set when budget.max_bytes exceeds what the filesystem can hold (for the CLI to show)
        self.budget_warning = self.disk.budget_warning(policy.budget.max_bytes, spool.size[1])
        self._last_flush = clock()
        self._lock = threading.Lock()

    def offer(
        self,
        image_bgr: ImageArray,
        detections: Detections | None = None,
        model: ModelRef | None = None,
        second: Detections | None = None,
        flagged: bool = False,
    ) -> Decision:
        """Score one frame; keep it (privacy filters applied before encoding) or count why not.

        Raises:
            ImageError: ``image_bgr`` is not an (H, W, 3) uint8 array.
        """
        if not (isinstance(image_bgr, np.ndarray) and image_bgr.dtype == np.uint8 and image_bgr.ndim == 3):
            raise ImageError(f"capture takes (H, W, 3) uint8 BGR frames, got {_describe(image_bgr)}")
        if image_bgr.shape[2] != 3 or 0 in image_bgr.shape:
            raise ImageError(f"capture takes (H, W, 3) uint8 BGR frames, got {_describe(image_bgr)}")
        with self._lock:  # one frame at a time: the spool and the history are shared
            now, sequence = self._clock(), self._sequence
            self._sequence += 1
            self.spool.count("offered")
            model = model or self.model
            try:
                decision = self._decide(image_bgr, detections, model, second, flagged, now, sequence)
            except (OSError, sqlite3.Error) as exc:  # capture degrades; the caller's loop goes on
                reason = failure_reason(exc)
                self.disk.failed(reason, f"{type(exc).__name__}: {exc}")
                decision = Decision(False, reason, f"spool: {exc}")
                self.spool.count_drop(reason)
            if not decision.kept and decision.reason not in _SPOOL_REASONS:
                self.spool.count_drop(decision.reason)
            if now - self._last_flush >= self.policy.counters_flush_s:
                # Once per interval even when it fails (a full disk): the counts stay in memory
                # and commit at the next flush or insert, and the caller's loop is not slowed.
                self._last_flush = now
                with contextlib.suppress(sqlite3.Error):
                    self.spool.flush_counters()
            return decision

    def _decide(
        self,
        image: ImageArray,
        detections: Detections | None,
        model: ModelRef,
        second: Detections | None,
        flagged: bool,
        now: float,
        sequence: int,
    ) -> Decision:
        privacy = self.policy.privacy
        if detections is not None and privacy.drop_classes:
            found = dropped_class(detections, privacy.drop_classes, privacy.min_confidence)
            if found is not None:
                return Decision(False, "privacy_drop", f"contains {found}")
        thumb = thumbnail(image) if self._needs_image else None
        frame = Frame(sequence, now, detections, thumb, second, flagged)
        scores = [
            (entry.sampler(frame, entry.params, self._context), i)
            for i, entry in enumerate(self.policy.samplers)
        ]
        self._context = replace(self._context, baseline=self._context.baseline.updated(features(frame)))
        chosen = self._choose(scores, now, sequence)
        if isinstance(chosen, Decision):
            return chosen
        score, index = chosen
        entry = self.policy.samplers[index]
        if not self.spool.would_fit(score.score, self.policy.budget):
            self.spool.count_drop("budget")
            return Decision(False, "budget", score.reason, entry.type, score.score)
        return self._store(image, detections, model, frame, entry, index, score, now)

    def _choose(
        self, scores: list[tuple[Score, int]], now: float, sequence: int
    ) -> tuple[Score, int] | Decision:
        """The best-scoring sampler that triggers and passes its probability draw and limits."""
        triggered = [(s, i) for s, i in scores if s.score >= self.policy.samplers[i].min_score]
        if not triggered:
            best, i = max(scores, key=lambda item: item[0].score)
            return Decision(False, "not_selected", best.reason, self.policy.samplers[i].type, best.score)
        triggered.sort(key=lambda item: -item[0].score)
        global_window = self._global.blocked(now)
        first: Decision | None = None
        for score, i in triggered:
            entry = self.policy.samplers[i]
            why: str | None = None
            if uniform(self._context.seed, sequence, f"probability:{i}") >= entry.probability:
                why = "probability"
            elif (window := global_window or self._limits[i].blocked(now)) is not None:
                why = f"rate_limit:{window}"
            if why is None:
                return score, i
            first = first or Decision(False, why, score.reason, entry.type, score.score)
        assert first is not None
        return first

    def _store(
        self,
        image: ImageArray,
        detections: Detections | None,
        model: ModelRef,
        frame: Frame,
        entry: SamplerPolicy,
        index: int,
        score: Score,
        now: float,
    ) -> Decision:
        paused = self.disk.paused()  # after a failed write: drop at once, no encoding, no disk access
        if paused is not None:
            self.spool.count_drop(paused.reason)
            return Decision(False, paused.reason, paused.detail, entry.type, score.score)
        prepared = prepare_image(image, detections, self.policy)
        if prepared is None:
            return Decision(False, "no_crops", "crops_only and no detections", entry.type, score.score)
        stored_image, stored_dets = prepared
        h, w = stored_image.shape[:2]
        dets = stored_dets if stored_dets is not None else Detections.empty()
        record = SampleRecord(
            self.device_id, model.name, model.version, dets.to_json((w, h)), entry.type, score.score,
            score.reason, tuple(entry.tags), self._wall(), w, h,
        )  # fmt: skip
        jpeg = encode_jpeg(stored_image, self.policy.image.jpeg_quality)
        refused = self.disk.room_for(len(jpeg))
        if refused is not None:
            self.spool.count_drop(refused.reason)
            return Decision(False, refused.reason, refused.detail, entry.type, score.score)
        result = self.spool.add(jpeg, record, self.policy.budget)
        if not isinstance(result, Stored):
            if result in WRITE_FAILURES:
                self.disk.failed(result, self.spool.last_error)
                return Decision(False, result, self.spool.last_error, entry.type, score.score)
            return Decision(False, result, score.reason, entry.type, score.score)
        self.disk.succeeded()
        self._limits[index].record(now)
        self._global.record(now)
        if detections is not None:
            self._class_counts.update(detections.class_name(c) for c in detections.class_id.tolist())
        self._context = replace(
            self._context,
            class_counts=dict(self._class_counts),
            last_kept_thumbnail=frame.thumbnail,
            last_kept_time_s=now,
        )
        return Decision(True, "kept", score.reason, entry.type, score.score, result.sha256, result.evicted)

    def close(self) -> None:
        """Commit the counters and close the spool."""
        with self._lock:
            self.spool.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    return type(value).__name__


WRITE_FAILURES = {"disk_full", "io_error"}
_SPOOL_REASONS = {"budget", "duplicate", *WRITE_FAILURES}  # the spool (or _store) counts these itself


def prepare_image(
    image: ImageArray, detections: Detections | None, policy: CapturePolicy
) -> tuple[ImageArray, Detections | None] | None:
    """Privacy filters, then the size cap: the pixels that will be stored, and the boxes in them.

    None when ``crops_only`` leaves nothing to keep.
    """
    privacy, (h, w) = policy.privacy, image.shape[:2]
    if detections is not None and privacy.blur_classes:
        blurred = boxes_of(detections, privacy.blur_classes, privacy.min_confidence)
        if len(blurred):
            image = obscure_boxes(image, expand(blurred.xyxy, privacy.margin, (w, h)))
    if privacy.crops_only:
        kept = boxes_of(detections, None, privacy.min_confidence) if detections is not None else None
        if kept is None or not len(kept):
            return None
        image = keep_only_boxes(image, expand(kept.xyxy, privacy.margin, (w, h)))
    limit = policy.image.max_size
    if limit is not None and max(h, w) > limit:
        scale = limit / max(h, w)
        new_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = resize_linear(np.ascontiguousarray(image), new_wh)
        if detections is not None:
            factor = np.array([new_wh[0] / w, new_wh[1] / h] * 2, np.float32)
            detections = Detections(
                detections.xyxy * factor, detections.confidence, detections.class_id, detections.names
            )
    return image, detections
