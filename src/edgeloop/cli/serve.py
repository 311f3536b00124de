"""``edgeloop serve``: the HTTP inference server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.backend_options import backend_option, backend_settings, device_option, threads_option
from edgeloop.cli.capture import capture_flags
from edgeloop.cli.common import err, handle_errors
from edgeloop.cli.sync import (
    background_summary,
    heartbeat_option,
    hub_mqtt_option,
    hub_option,
    hub_token_option,
    serve_facts,
    start_background_sync,
    sync_flags,
    sync_rate_option,
)
from edgeloop.errors import ConfigError, EdgeloopError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from edgeloop.serve.manager import ModelManager
    from edgeloop.stream.follow import FolderWatcher


@handle_errors
def serve(
    bundles: list[Path] = typer.Argument(
        None, help="Bundle folders or .tar files to serve (optional with --models)."
    ),
    models: Path | None = typer.Option(
        None,
        "--models",
        help="Serve the version the models folder's 'current' points at, and follow it: a new "
        "version is swapped in without failing a request (the folder `edgeloop agent` manages).",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback unless a token is set)."),
    port: int = typer.Option(9001, min=0, max=65535, help="Port to listen on."),
    token: str | None = typer.Option(
        None, envvar="EDGELOOP_TOKEN", help="Require 'Authorization: Bearer TOKEN'."
    ),
    backend: str = backend_option(),
    device: str | None = device_option(),
    threads: int = threads_option("per model"),
    queue_size: int = typer.Option(32, "--queue-size", min=1, help="Requests waiting per model before 503."),
    max_batch: int = typer.Option(
        1, "--max-batch", min=1, help="Images per inference (dynamic-batch models)."
    ),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0, help="Wait to fill a batch."),
    max_body_mb: float = typer.Option(20.0, "--max-body-mb", min=0.01, help="Largest request body."),
    timeout: float = typer.Option(30.0, min=0.01, help="Seconds before a request gets 504."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the bundles' golden-sample checks."),
    spinning: bool | None = typer.Option(
        None, "--spinning/--no-spinning", help="ONNX Runtime threads busy-wait between runs (default: on)."
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", help="Folder where pipelines started over HTTP may write file sinks."
    ),
    max_pipelines: int = typer.Option(
        4, "--max-pipelines", min=0, help="Video pipelines (/v1/pipelines) running at once."
    ),
    capture: Path | None = typer.Option(
        None,
        "--capture",
        help="Capture policy YAML: keep request images worth labelling in --spool (off unless set; "
        "docs/improve.md). A request field flag=true marks an image for the 'flagged' sampler.",
    ),
    spool: Path | None = typer.Option(None, "--spool", help="Spool folder for --capture."),
    device_id: str | None = typer.Option(
        None, "--device-id", help="Device id stored with captured images (default: the host name)."
    ),
    hub: str | None = hub_option(),
    hub_token: str | None = hub_token_option(),
    sync_rate: str | None = sync_rate_option(),
    heartbeat_s: float = heartbeat_option(),
    hub_mqtt: str | None = hub_mqtt_option(),
) -> None:
    """Serve bundles over HTTP: /v1 (native), /v2 (Open Inference Protocol), Roboflow routes."""
    import time

    from edgeloop.serve.app import build, shutdown
    from edgeloop.serve.config import ServeConfig, check_exposure
    from edgeloop.serve.listen import bind_socket

    settings = backend_settings(backend, device, threads)
    capture_flags(capture, spool, device_id)  # checked before the models load
    sync_settings = sync_flags(hub, hub_token, sync_rate, spool, heartbeat_s, hub_mqtt)
    if spinning is not None:
        if "allow_spinning" not in type(settings).model_fields:
            raise ConfigError(f"--spinning/--no-spinning: backend '{backend}' has no busy-wait setting")
        settings = settings.replace({"allow_spinning": spinning})
    if "max_batch" in type(settings).model_fields:  # TensorRT: the engine's profile must cover the batch
        settings = settings.replace({"max_batch": max_batch})
    config = ServeConfig(
        host=host,
        port=port,
        token=token or None,
        backend=settings,
        queue_size=queue_size,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_body_bytes=int(max_body_mb * 2**20),
        request_timeout_s=timeout,
        check_samples=not no_check,
        max_pipelines=max_pipelines,
        output_dir=str(output_dir.resolve()) if output_dir else None,
        capture_policy=str(capture) if capture else None,
        spool_dir=str(spool.resolve()) if spool else None,
        device_id=device_id,
    )
    check_exposure(config)
    bundles = list(bundles or [])
    if models is not None:
        bundles.insert(0, start_following(models))
    if not bundles:
        raise ConfigError("nothing to serve: give bundle folders or .tar files, or --models DIR")
    start = time.perf_counter()
    # Bind before loading models and before saying "serving": a busy port is one clear error.
    sock = bind_socket(host, port)
    try:
        app, manager = build([str(b) for b in bundles], config)
    except BaseException:
        sock.close()
        raise
    for name, worker in manager.items():
        state = "ready" if worker.ready else "NOT READY (golden samples differ, see /readyz)"
        backend = worker.predictor.backend.name
        err.print(f"model '{name}' v{worker.version} from {worker.source} on {backend}: {state}")
    if config.spool_dir is not None:
        err.print(
            f"capturing request images into {config.spool_dir} (policy {capture}); counters at /v1/capture"
        )
    watcher = follow_folder(models, manager, bundles[0]) if models is not None else None
    background = None
    if sync_settings is not None and spool is not None and app.state.server.capture is not None:
        background = start_background_sync(sync_settings, spool, serve_facts(app.state.server, manager))
    auth = "token required" if config.token else "no token (loopback only)"
    bound_port = sock.getsockname()[1]
    err.print(f"serving on http://{host}:{bound_port} ({auth}); web page at /, API docs at /docs")
    try:
        # Connections past this get 503 from uvicorn itself: with --max-body-mb it
        # bounds the memory that bodies waiting for a request thread can hold.
        started = _run_uvicorn(app, sock, max(64, 2 * config.queue_size * len(bundles)))
    finally:
        sock.close()
        if watcher is not None:
            watcher.close()
            watcher.recorder.close()
        sync_stats = background.close() if background is not None else None
        shutdown(app)
    if not started:
        raise EdgeloopError("the server did not start (see the messages above)")
    hook = app.state.server.capture
    if hook is not None:
        from edgeloop.improve.hook import counters_line

        err.print(f"capture into {config.spool_dir}: {counters_line(hook.run_counters())}", markup=False)
    if background is not None:
        err.print(background_summary(background, sync_stats), markup=False)
    err.print(f"stopped after {time.perf_counter() - start:.0f} s")


def start_following(models: Path) -> Path:
    """The bundle to serve first from ``models``, once this start is counted (a version that keeps
    crashing at start is reverted by the agent)."""
    from edgeloop.stream.follow import first_bundle, note_start

    message = note_start(models, "serve")
    if message:
        err.print(f"warning: {message}", markup=False)
    return first_bundle(models)


def follow_folder(models: Path, manager: ModelManager, bundle: Path) -> FolderWatcher:
    """Follow ``models``: ``bundle`` (its current version) is the first model loaded."""
    from edgeloop.agent.layout import version_key
    from edgeloop.serve.follow import ROLE, follow
    from edgeloop.stream.follow import open_recorder

    first = manager.items()[0][1]
    key = version_key(bundle)
    err.print(f"following {models}: model '{first.name}' is version {key}; switches are picked up")
    return follow(
        manager, models, first, key, open_recorder(models, ROLE), lambda m: err.print(m, markup=False)
    )


def _run_uvicorn(app: FastAPI, sock: socket.socket, limit_concurrency: int) -> bool:
    """Serve ``app`` on the bound ``sock`` until Ctrl-C or SIGTERM; whether it started."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=os.environ.get("EDGELOOP_LOG", "warning"),
            access_log=False,
            timeout_graceful_shutdown=5,
            limit_concurrency=limit_concurrency,
        )
    )
    # uvicorn re-raises the stopping signal once it has shut down; SIGTERM's default action
    # would then kill the process before the pipelines finish their files. Make it Ctrl-C's.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return bool(server.started)
