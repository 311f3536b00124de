"""Benchmark a bundle on this machine through the one inference path (``Predictor``).

One JSON schema for every target (``BenchReport``; published as
``bench.schema.json`` beside this module), so results from a Pi and a Jetson
can be compared line by line.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgeloop.backends import BackendConfig, create_backend
from edgeloop.bundle import NON_ONNX_BACKENDS, Bundle, Variant
from edgeloop.errors import BackendError, BundleError, EdgeloopError
from edgeloop.hardware.catalog import Unit
from edgeloop.hardware.predict import Measurement
from edgeloop.imaging import decode_image, encode_jpeg
from edgeloop.predictor import Predictor, Timing

SCHEMA_VERSION = 1
STAGES = ("decode", "preprocess", "infer", "postprocess", "total")


class StageStats(BaseModel):
    """Latency of one stage over the timed runs, in milliseconds."""

    model_config = ConfigDict(extra="forbid")

    p50_ms: float
    p95_ms: float
    mean_ms: float


class BenchRun(BaseModel):
    """One (variant, backend) combination."""

    model_config = ConfigDict(extra="forbid")

    variant: str
    precision: str
    backend: str
    backend_config: dict[str, Any]
    imgsz: list[int] = Field(description="model input height, width")
    warmup: int
    runs: int
    stages: dict[str, StageStats] = Field(description="decode, preprocess, infer, postprocess, total")
    fps: float = Field(description="1000 / total p50")
    peak_rss_mb: float = Field(description="peak resident memory of the process so far")


class BenchSkip(BaseModel):
    """A (variant, backend) combination not run: the file is in a format the backend cannot read."""

    model_config = ConfigDict(extra="forbid")

    variant: str
    backend: str
    reason: str


class Host(BaseModel):
    """Where the benchmark ran."""

    model_config = ConfigDict(extra="forbid")

    machine: str
    system: str
    processor: str
    cpu_count: int
    python: str


class BenchReport(BaseModel):
    """What ``edgeloop bench --json`` prints."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    edgeloop: str
    created: str
    bundle: str
    host: Host
    image_wh: list[int]
    results: list[BenchRun]
    skipped: list[BenchSkip] = Field(
        default_factory=list, description="combinations not run: a file the backend cannot read"
    )


def host_info() -> Host:
    """This machine, as far as the standard library can tell."""
    return Host(
        machine=platform.machine(),
        system=platform.system(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count() or 1,
        python=sys.version.split()[0],
    )


def synthetic_jpeg(width: int = 1280, height: int = 720, seed: int = 0) -> bytes:
    """A JPEG of smooth random shapes, so decode time is realistic and results are repeatable."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 110, np.uint8)
    for _ in range(24):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        img[y : y + int(rng.integers(20, 300)) + 1, x : x + int(rng.integers(20, 300)) + 1] = colour
    return encode_jpeg(img, 90)


def _stats(values_s: list[float]) -> StageStats:
    ms = sorted(v * 1e3 for v in values_s)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return StageStats(
        p50_ms=round(statistics.median(ms), 4), p95_ms=round(p95, 4), mean_ms=round(statistics.fmean(ms), 4)
    )


def _peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(
        rss / (1 << 20) if sys.platform == "darwin" else rss / 1024, 1
    )  # bytes on macOS, KiB on Linux


def _timed(predictor: Predictor, image: bytes) -> Timing:
    """One timed prediction; a raw bundle (no decoder) stops after inference (postprocess 0)."""
    if predictor.has_decoder:
        return predictor.predict_timed(image)[1]
    t0 = time.perf_counter()
    array, size_wh = predictor.decode(image)
    t1 = time.perf_counter()
    prepared = predictor.prepare(array, size_wh)
    t2 = time.perf_counter()
    predictor.infer(prepared.tensor)
    return Timing(t1 - t0, t2 - t1, time.perf_counter() - t2, 0.0)


def bench_one(predictor: Predictor, image: bytes, warmup: int, runs: int) -> dict[str, StageStats]:
    """Per-stage statistics of ``runs`` timed predictions after ``warmup`` untimed ones."""
    if runs < 1:
        raise EdgeloopError("runs must be at least 1")
    for _ in range(warmup):
        _timed(predictor, image)
    timings: list[Timing] = [_timed(predictor, image) for _ in range(runs)]
    return {
        "decode": _stats([t.decode_s for t in timings]),
        "preprocess": _stats([t.preprocess_s for t in timings]),
        "infer": _stats([t.infer_s for t in timings]),
        "postprocess": _stats([t.postprocess_s for t in timings]),
        "total": _stats([t.total_s for t in timings]),
    }


def bench_bundle(
    bundle: Bundle,
    backends: Sequence[BackendConfig],
    precisions: list[str] | None = None,
    warmup: int = 5,
    runs: int = 30,
    image: bytes | None = None,
) -> BenchReport:
    """Benchmark every requested variant (default: all) with every backend in ``backends``.

    Args:
        backends: the settings of each backend to run, e.g. ``[OnnxRuntimeConfig(intra_op_threads=2)]``.
    """
    from edgeloop import __version__

    data = image if image is not None else synthetic_jpeg()
    decoded = decode_image(data)
    variants = [v for v in bundle.manifest.variants if precisions is None or v.precision in precisions]
    if not variants:
        have = ", ".join(v.precision for v in bundle.manifest.variants)
        raise EdgeloopError(
            f"bundle has no variant of precision {', '.join(precisions or [])} (it has: {have})"
        )
    for config in backends:
        create_backend(config).close()  # a runtime not installed is an error, not a missing row
    results = []
    skipped: list[tuple[BenchSkip, EdgeloopError]] = []
    for variant in variants:
        for config in backends:
            if bundle.manifest.variant(variant.precision, config.type).file != variant.file:
                continue  # another variant is this backend's own (e.g. OpenVINO IR for openvino)
            try:
                predictor = Predictor(bundle, config, precision=variant.precision)
            except (BackendError, BundleError) as exc:
                if not _cannot_read(config.type, variant):
                    raise
                skip = BenchSkip(variant=variant.file, backend=config.type, reason=str(exc))
                skipped.append((skip, exc))
                continue
            with predictor:
                stages = bench_one(predictor, data, warmup, runs)
                results.append(
                    BenchRun(
                        variant=variant.file,
                        precision=variant.precision,
                        backend=config.type,
                        backend_config=config.model_dump(mode="json", exclude_defaults=True),
                        imgsz=list(predictor.input_spec.size_hw),
                        warmup=warmup,
                        runs=runs,
                        stages=stages,
                        fps=round(1e3 / stages["total"].p50_ms, 2),
                        peak_rss_mb=_peak_rss_mb(),
                    )
                )
    if not results and skipped:
        raise skipped[0][1]
    return BenchReport(
        edgeloop=__version__,
        created=datetime.now(timezone.utc).isoformat(),
        bundle=bundle.manifest.name,
        host=host_info(),
        image_wh=[int(decoded.shape[1]), int(decoded.shape[0])] if decoded is not None else [0, 0],
        results=results,
        skipped=[skip for skip, _ in skipped],
    )


def _cannot_read(backend: str, variant: Variant) -> bool:
    """Whether ``variant``'s file is in a format ``backend`` does not read: an ONNX file for
    ncnn, LiteRT or DepthAI, or another format (IR, .tflite, ncnn, NN Archive) made for others."""
    if backend in variant.backends or backend == "null":
        return False
    return backend in NON_ONNX_BACKENDS or not variant.file.endswith(".onnx")


def to_measurements(
    report: BenchReport, gflops: float, params: float, device: str, unit: Unit, model: str
) -> list[Measurement]:
    """The report's infer p50s as measurements the predictor can be calibrated on.

    Args:
        gflops: the model's FLOPs at its input size (from ``profile_onnx``), params its parameter count.
        device: the catalog slug of the machine the benchmark ran on.
    """
    out = []
    for run in report.results:
        if run.precision not in ("fp32", "fp16", "int8"):
            continue
        runtime = run.backend if unit == "cpu" or run.backend != "onnxruntime" else "onnxruntime-gpu"
        out.append(
            Measurement(
                device=device,
                runtime=runtime,
                unit=unit,
                precision=run.precision,
                model=model,
                imgsz=run.imgsz[0],
                gflops=gflops,
                params_m=params / 1e6,
                latency_ms=run.stages["infer"].p50_ms,
                source=f"edgeloop bench {report.edgeloop} on {report.host.processor}, {report.created}",
                note=f"{run.runs} runs, infer p50; backend settings {run.backend_config}",
            )
        )
    return out


def report_schema() -> dict[str, Any]:
    """The JSON Schema of ``BenchReport`` (what ``bench.schema.json`` holds)."""
    return BenchReport.model_json_schema()
