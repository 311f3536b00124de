"""The checks the health-check process runs on a candidate bundle (``python -m edgeloop.agent.healthcheck``).

In order, stopping at the first problem:

1. the candidate loads (manifest, hashes, model) with ``edgeloop.predictor.Predictor``;
2. it is compatible with the previous version: same task, family, class names and input
   spec, the same model input and output names, and output shapes whose fixed dimensions agree;
3. its raw outputs are finite (no NaN, no inf) on every golden sample and on a grey and a noise image;
4. its golden ``samples/`` give the recorded results (``edgeloop.samples.check_samples``,
   the same check ``edgeloop serve`` runs before it reports ready);
5. its median latency, measured interleaved with the previous version's in this process,
   is within ``max_latency_ratio`` of it and within ``max_latency_ms``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.agent.contract import Verdict
from edgeloop.backends import BackendConfig, OnnxRuntimeConfig
from edgeloop.predictor import Predictor
from edgeloop.samples import check_samples
from edgeloop.types import TensorSpec


@dataclass(frozen=True)
class ProbeLimits:
    """What the candidate must meet (see ``ProcessHealthCheck`` for the defaults)."""

    max_latency_ratio: float | None = 3.0
    max_latency_ms: float | None = None
    min_latency_delta_ms: float = 1.0  # a slowdown smaller than this never fails the ratio (timer noise)
    runs: int = 7
    require_samples: bool = False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _names(specs: tuple[TensorSpec, ...]) -> list[str]:
    return [s.name for s in specs]


def _shapes_agree(a: tuple[int | str | None, ...], b: tuple[int | str | None, ...]) -> bool:
    if len(a) != len(b):
        return False
    return all(not (isinstance(x, int) and isinstance(y, int)) or x == y for x, y in zip(a, b, strict=True))


def compatibility(cand: Predictor, prev: Predictor) -> str | None:
    """None when ``cand`` can replace ``prev`` for the same callers, else what differs."""
    cm, pm = cand.bundle.manifest, prev.bundle.manifest
    for field in ("task", "family"):
        if getattr(cm, field) != getattr(pm, field):
            return f"{field} is {getattr(cm, field)!r}, the previous version's is {getattr(pm, field)!r}"
    if list(cm.names) != list(pm.names):
        return f"class names {list(cm.names)} differ from the previous version's {list(pm.names)}"
    if cm.input != pm.input:
        diff = [k for k, v in cm.input.model_dump().items() if pm.input.model_dump().get(k) != v]
        return f"input spec differs from the previous version's in {', '.join(diff)}"
    cs, ps = cand.model_spec, prev.model_spec
    for kind, mine, theirs in (("input", cs.inputs, ps.inputs), ("output", cs.outputs, ps.outputs)):
        if _names(mine) != _names(theirs):
            return f"model {kind} names {_names(mine)} differ from the previous version's {_names(theirs)}"
        for a, b in zip(mine, theirs, strict=True):
            if not _shapes_agree(a.shape, b.shape):
                return (
                    f"model {kind} '{a.name}' has shape {list(a.shape)}, "
                    f"the previous version's is {list(b.shape)}"
                )
            if a.dtype != b.dtype:
                return f"model {kind} '{a.name}' is {a.dtype}, the previous version's is {b.dtype}"
    return None


def _fixed(predictor: Predictor) -> npt.NDArray[np.generic]:
    """A zero input for a model whose input is no image (a ``raw`` bundle): dynamic dimensions 1."""
    spec = predictor.model_spec.inputs[0]
    shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape)
    return np.zeros(shape, np.dtype(spec.dtype))


def _probe_inputs(predictor: Predictor) -> list[tuple[str, npt.NDArray[np.generic]]]:
    """The model inputs the finiteness check runs: every golden sample, a grey and a noise image."""
    if not predictor.has_decoder:
        return [("a zero input", _fixed(predictor))]
    h, w = predictor.input_spec.size_hw
    images = [
        (s.file, predictor.load_image(predictor.bundle.path(s.file)))
        for s in predictor.bundle.manifest.samples
    ]
    rng = np.random.default_rng(0)
    images.append(("a grey image", np.full((h, w, 3), 128, np.uint8)))
    images.append(("a noise image", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    return [(label, predictor.prepare(image).tensor) for label, image in images]


def _timing_input(predictor: Predictor) -> npt.NDArray[np.generic]:
    if not predictor.has_decoder:
        return _fixed(predictor)
    h, w = predictor.input_spec.size_hw
    return predictor.prepare(np.full((h, w, 3), 128, np.uint8)).tensor


def finite_outputs(predictor: Predictor) -> str | None:
    """None when every raw output on the probe images is finite, else which one is not."""
    for label, tensor in _probe_inputs(predictor):
        outputs = predictor.infer(tensor)
        for spec, out in zip(predictor.model_spec.outputs, outputs, strict=False):
            arr = np.asarray(out)
            if arr.dtype.kind != "f":
                continue
            nan, inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            if nan or inf:
                what = " and ".join(
                    x for x in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "") if x
                )
                return f"output '{spec.name}' has {what} values (of {arr.size}) on {label}"
    return None


def _time_ms(predictor: Predictor, tensor: npt.NDArray[np.generic]) -> float:
    t = time.perf_counter()
    predictor.infer(tensor)
    return (time.perf_counter() - t) * 1000.0


@dataclass(frozen=True)
class Latency:
    """Median milliseconds per inference, and the median of the paired (candidate / previous) ratios."""

    candidate_ms: float
    previous_ms: float | None = None
    ratio: float | None = None


def latency(cand: Predictor, prev: Predictor | None, runs: int) -> Latency:
    """Time the candidate and the previous version alternately on the same grey image (zeros: raw).

    Each candidate run is paired with the previous version's run right after it, so both see
    the same machine load; the ratio is the median of the pairs' ratios.
    """
    ct = _timing_input(cand)
    pt = _timing_input(prev) if prev is not None else None
    cand.infer(ct)  # warm-up: first runs allocate
    if prev is not None and pt is not None:
        prev.infer(pt)
    cms: list[float] = []
    pms: list[float] = []
    for _ in range(max(1, runs)):
        cms.append(_time_ms(cand, ct))
        if prev is not None and pt is not None:
            pms.append(_time_ms(prev, pt))
    if not pms:
        return Latency(statistics.median(cms))
    ratios = [c / p if p > 0 else float("inf") for c, p in zip(cms, pms, strict=True)]
    return Latency(statistics.median(cms), statistics.median(pms), statistics.median(ratios))


# One thread, no spinning: both versions run on the calling thread, so a busy machine slows
# them alike and their ratio holds (with ONNX Runtime's default thread pool, two sessions in
# one process hand work to threads that other processes delay, and the same pair of models
# measured anywhere from 1.2x to 28x apart on a loaded 2-core machine).
DEFAULT_BACKEND = OnnxRuntimeConfig(intra_op_threads=1, allow_spinning=False)


def _quiet(backend: BackendConfig | None) -> BackendConfig:
    """The settings the check runs with: ``DEFAULT_BACKEND`` when none are given; ONNX Runtime
    settings with ``allow_spinning`` unset get it off (two sessions share the process)."""
    if backend is None:
        return DEFAULT_BACKEND
    if isinstance(backend, OnnxRuntimeConfig) and backend.allow_spinning is None:
        return backend.model_copy(update={"allow_spinning": False})
    return backend


def probe(
    candidate: Path, previous: Path | None, backend: BackendConfig | None, limits: ProbeLimits
) -> Verdict:
    """Run every check on ``candidate`` (against ``previous``) and return the verdict."""
    detail: dict[str, Any] = {}
    backend = _quiet(backend)
    try:
        cand = Predictor(candidate, backend=backend)
    except Exception as exc:
        return Verdict(False, f"candidate does not load: {_one_line(exc)}", detail)
    prev: Predictor | None = None
    if previous is not None:
        try:
            prev = Predictor(previous, backend=backend)
        except Exception as exc:  # the running version should load; compare nothing rather than fail
            detail["previous"] = f"did not load: {_one_line(exc)}"
    try:
        return _checks(cand, prev, limits, detail)
    finally:
        cand.close()
        if prev is not None:
            prev.close()


def _checks(cand: Predictor, prev: Predictor | None, limits: ProbeLimits, detail: dict[str, Any]) -> Verdict:
    if prev is not None:
        problem = compatibility(cand, prev)
        if problem:
            return Verdict(False, f"incompatible with the previous version: {problem}", detail)
    try:
        problem = finite_outputs(cand)
    except Exception as exc:
        return Verdict(False, f"inference failed: {_one_line(exc)}", detail)
    if problem:
        return Verdict(False, f"outputs not finite: {problem}", detail)
    samples = cand.bundle.manifest.samples
    detail["samples"] = len(samples)
    if not samples and limits.require_samples:
        return Verdict(False, "the bundle has no golden samples and the check requires them", detail)
    if samples and cand.has_decoder:
        try:
            checks = check_samples(cand)
        except Exception as exc:
            return Verdict(False, f"golden samples failed to run: {_one_line(exc)}", detail)
        bad = [c for c in checks if not c.ok]
        if bad:
            return Verdict(
                False,
                f"golden sample {bad[0].file} mismatch: {bad[0].detail} ({len(bad)}/{len(checks)} differ)",
                detail,
            )
    timed = latency(cand, prev, limits.runs)
    cms, pms, ratio = timed.candidate_ms, timed.previous_ms, timed.ratio
    detail["latency_ms"] = round(cms, 3)
    if pms is not None and ratio is not None:
        detail["previous_latency_ms"] = round(pms, 3)
        detail["latency_ratio"] = round(ratio, 3)
        if (
            limits.max_latency_ratio is not None
            and ratio > limits.max_latency_ratio
            and cms - pms > limits.min_latency_delta_ms
        ):
            return Verdict(
                False,
                f"too slow: median latency {cms:.1f} ms is {ratio:.1f}x the previous version's {pms:.1f} ms "
                f"(median of {limits.runs} paired runs; limit {limits.max_latency_ratio:g}x)",
                detail,
            )
    if limits.max_latency_ms is not None and cms > limits.max_latency_ms:
        return Verdict(
            False,
            f"too slow: median latency {cms:.1f} ms is over the budget of {limits.max_latency_ms:g} ms",
            detail,
        )
    return Verdict(True, "", detail)
