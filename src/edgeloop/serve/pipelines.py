"""Video pipelines started and stopped over HTTP (``/v1/pipelines``).

Each pipeline is what ``edgeloop run`` does, on a background thread of the
server: its own Predictor of a served model's bundle (so reloading the served
model never pulls a session from under a running pipeline), sources, sinks
and optional zones. Over HTTP, file sinks may only write below the server's
``--output-dir``, never elsewhere on the device.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.backends.config import sharing_process
from edgeloop.errors import (
    ConfigError,
    EdgeloopError,
    FeatureUnavailable,
    LimitReached,
    NotFound,
    RequestError,
)
from edgeloop.predictor import Predictor
from edgeloop.serve.config import ServeConfig
from edgeloop.serve.manager import ModelManager
from edgeloop.validation import format_validation_error

if TYPE_CHECKING:
    from edgeloop.stream.pipeline import Pipeline, Summary

FILE_SINKS = ("jsonl", "video", "capture")
STOP_TIMEOUT_S = 5.0


class PipelineSpec(BaseModel):
    """The body of ``POST /v1/pipelines``: the options of ``edgeloop run``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="name of a served model (GET /v1/models)")
    sources: list[str] = Field(min_length=1, max_length=16, description="as edgeloop run --source")
    sinks: list[str] = Field(default_factory=list, max_length=16, description="as edgeloop run --sink")
    zones: dict[str, Any] | None = Field(default=None, description="the zones YAML, as a JSON object")
    max_fps: float | None = Field(default=None, gt=0)
    conf: float | None = Field(default=None, ge=0, le=1)
    workers: int = Field(default=0, ge=0, le=8, description="frames in inference at once (0: auto)")
    connect_timeout_s: float = Field(default=15.0, gt=0, le=600)
    reconnect_timeout_s: float = Field(default=60.0, gt=0, le=86400)


State = Literal["running", "stopping", "stopped", "ended", "failed"]


class RunningPipeline:
    """One pipeline, its thread, and what it reported when it ended."""

    def __init__(
        self, pipeline_id: str, spec: PipelineSpec, pipeline: Pipeline, cleanup: contextlib.ExitStack
    ) -> None:
        self.id = pipeline_id
        self.spec = spec
        self.pipeline = pipeline
        self.started = time.time()
        self.summary: Summary | None = None
        self.crash: str | None = None
        self._cleanup = cleanup
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"pipeline-{pipeline_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.summary = self.pipeline.run()
        except Exception as exc:  # never let a pipeline take the server down
            self.crash = f"pipeline crashed: {exc}"
        finally:
            with contextlib.suppress(Exception):
                self._cleanup.close()  # sinks flush and close, the predictor is released

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def state(self) -> State:
        if self.alive:
            return "stopping" if self._stopping else "running"
        if self.crash or (self.summary is not None and self.summary.error is not None):
            return "failed"
        return "stopped" if self._stopping else "ended"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        self._stopping = True
        self.pipeline.stop()
        self._thread.join(timeout_s)

    def status(self) -> dict[str, Any]:
        error = self.crash or (str(self.summary.error) if self.summary and self.summary.error else None)
        return {
            "id": self.id,
            "state": self.state,
            "model": self.spec.model,
            "sources": {
                s.name: spec for s, spec in zip(self.pipeline.sources, self.spec.sources, strict=True)
            },
            "sinks": self.spec.sinks,
            "started": self.started,
            "stats": self.pipeline.snapshot(),
            "summary": self.summary.to_json() if self.summary is not None else None,
            "error": error,
        }


def check_sink(spec: str, output_dir: Path | None) -> str:
    """A sink spec that is safe to open for an HTTP client: file sinks resolved below ``output_dir``.

    Raises:
        RequestError: a file sink outside ``output_dir``, or any file sink without one.
    """
    kind, _, target = spec.partition(":")
    if kind not in FILE_SINKS:
        return spec
    if output_dir is None:
        raise RequestError(
            f"sink '{spec}' writes files on the server: start edgeloop serve with --output-dir DIR "
            "to allow file sinks, whose paths are then relative to DIR",
        )
    relative = PurePosixPath(target)
    if target in ("", "-") or relative.is_absolute() or ".." in relative.parts or "\\" in target:
        raise RequestError(
            f"sink '{spec}': give a relative path inside the server's --output-dir, without '..'"
        )
    return f"{kind}:{output_dir / relative}"


class PipelineManager:
    """The server's pipelines: start, list, stop; all stopped when the server stops."""

    def __init__(self, models: ModelManager, config: ServeConfig) -> None:
        self.models = models
        self.config = config
        self._pipelines: dict[str, RunningPipeline] = {}
        self._starting = 0  # slots held by starts still opening sources and sinks
        self._lock = threading.Lock()

    def start(self, spec: PipelineSpec) -> RunningPipeline:
        """Open the sources, sinks and model of ``spec`` and start it (blocking: call off the event loop).

        Raises:
            LimitReached: at the pipeline limit.
            FeatureUnavailable: without the stream extra.
            ModelNotFound: ``spec.model`` is not served.
        """
        with self._lock:  # concurrent starts cannot overshoot the limit
            running = sum(p.alive for p in self._pipelines.values()) + self._starting
            if running >= self.config.max_pipelines:
                raise LimitReached(
                    f"{running} pipelines are running, the limit (--max-pipelines); stop one first"
                )
            self._starting += 1
        try:
            return self._start(spec)
        finally:
            with self._lock:
                self._starting -= 1

    def _start(self, spec: PipelineSpec) -> RunningPipeline:
        self.models.get(spec.model)  # 404 for an unknown model, before opening anything
        source_path = self.models.source_of(spec.model)
        assert source_path is not None
        output_dir = Path(self.config.output_dir) if self.config.output_dir else None
        sink_specs = [check_sink(s, output_dir) for s in spec.sinks]
        try:
            from edgeloop.stream.pipeline import Pipeline, plan_workers
            from edgeloop.stream.sinks import open_sink
            from edgeloop.stream.sources import LiveOptions, open_source, source_names
            from edgeloop.stream.zones import ZonesConfig
        except EdgeloopError as exc:  # the stream extra (OpenCV) is not installed
            raise FeatureUnavailable(f"pipelines are not available on this server: {exc}") from None
        zones = None
        if spec.zones is not None:
            try:
                zones = ZonesConfig.model_validate(spec.zones)
            except ValidationError as exc:
                problems = format_validation_error(exc, "key", prefix="zones", model=ZonesConfig)
                raise ConfigError(f"{problems} (see docs/stream.md)") from None
        live = LiveOptions(
            connect_timeout_s=spec.connect_timeout_s, reconnect_timeout_s=spec.reconnect_timeout_s
        )
        with contextlib.ExitStack() as stack:
            names = source_names(spec.sources)
            sources = [
                open_source(s, n, live, spec.max_fps) for s, n in zip(spec.sources, names, strict=True)
            ]
            fps = {s.name: s.fps for s in sources}
            # The server's settings, its threads (or the cores) shared between the workers;
            # pipelines run beside the served models, so no busy-waiting.
            config = self.config.backend
            workers, threads = plan_workers(spec.workers, config.cpu_threads, config.capabilities())
            config = sharing_process(config.with_threads(threads))
            predictor = stack.enter_context(Predictor(source_path, config, max_pixels=self.config.max_pixels))
            sinks = [stack.enter_context(open_sink(s, fps)) for s in sink_specs]
            pipeline = Pipeline(
                predictor, sources, sinks, zones, predictor.options(conf=spec.conf),
                stats_every_s=10.0, workers=workers,
            )  # fmt: skip
            running_pipeline = RunningPipeline(uuid.uuid4().hex[:12], spec, pipeline, stack.pop_all())
        with self._lock:
            self._pipelines[running_pipeline.id] = running_pipeline
        running_pipeline.start()
        return running_pipeline

    def get(self, pipeline_id: str) -> RunningPipeline:
        with self._lock:
            found = self._pipelines.get(pipeline_id)
        if found is None:
            raise NotFound(f"no pipeline '{pipeline_id}' (GET /v1/pipelines lists them)")
        return found

    def list(self) -> list[RunningPipeline]:
        with self._lock:
            return list(self._pipelines.values())

    def stop(self, pipeline_id: str) -> RunningPipeline:
        """Stop a pipeline (its files complete) and forget it; returns it for its final status."""
        found = self.get(pipeline_id)
        found.stop()
        with self._lock:
            self._pipelines.pop(pipeline_id, None)
        return found

    def close(self) -> None:
        """Stop every pipeline (server shutdown)."""
        for found in self.list():
            found.stop()
        with self._lock:
            self._pipelines.clear()
