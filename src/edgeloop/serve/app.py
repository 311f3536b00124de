"""The FastAPI application: routes, error mapping and request metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgeloop import __version__
from edgeloop.errors import ConfigError, EdgeloopError
from edgeloop.improve.hook import CaptureHook
from edgeloop.serve.capture import open_capture
from edgeloop.serve.config import ServeConfig
from edgeloop.serve.http import error_response, status_of
from edgeloop.serve.manager import ModelManager
from edgeloop.serve.metrics import Metrics
from edgeloop.serve.pipelines import PipelineManager
from edgeloop.serve.routes import ops, pipelines, roboflow, v1, v2
from edgeloop.serve.state import ServerState

log = logging.getLogger("edgeloop.serve")


class RequestMetrics:
    """Counts requests by route and status code (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.inc(
                "edgeloop_requests_total",
                "HTTP requests by route and status",
                route=path,
                code=str(status["code"]),
            )


def create_app(
    manager: ModelManager, config: ServeConfig, metrics: Metrics, capture: CaptureHook | None = None
) -> FastAPI:
    """Build the app around already loaded models (and the capture hook, when capture is on)."""
    app = FastAPI(title="edgeloop", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.server = ServerState(config, manager, metrics, PipelineManager(manager, config), capture)
    for router in (ops.router, v1.router, pipelines.router, v2.router, roboflow.router):
        app.include_router(router)

    @app.exception_handler(EdgeloopError)
    async def _edgeloop(request: Request, exc: EdgeloopError) -> JSONResponse:
        status, headers = status_of(exc)
        return error_response(status, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, f"invalid request: {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); the server keeps running")

    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


def shutdown(app: FastAPI) -> None:
    """Stop the app's pipelines (their files complete), unload its models, close the capture spool."""
    state: ServerState = app.state.server
    try:
        state.pipelines.close()
    finally:
        try:
            state.manager.close()
        finally:
            if state.capture is not None:
                state.capture.close()


def _same_name(name: str, first: str, second: str) -> str:
    if Path(first).resolve() == Path(second).resolve():
        return f"bundle {first} is given twice; give each bundle once"
    return (
        f"two bundles are named '{name}': {first} and {second}; models are served by name, so one "
        f'would silently replace the other. Rename one: edit "name" in its bundle.json '
        f"(or import it again with --name)"
    )


def build(bundles: list[str], config: ServeConfig) -> tuple[FastAPI, ModelManager]:
    """Load ``bundles`` and create the app."""
    metrics = Metrics()
    manager = ModelManager(config, metrics)
    try:
        loaded: dict[str, str] = {}
        for path in bundles:
            name = manager.load(path).name
            if name in loaded:
                raise ConfigError(_same_name(name, loaded[name], path))
            loaded[name] = path
        capture = open_capture(config)
    except Exception:
        manager.close()
        raise
    return create_app(manager, config, metrics, capture), manager
