"""The hub's FastAPI application: routers from ``hub/routes``, errors as JSON by status table."""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from edgeloop import __version__
from edgeloop.errors import ConfigError, EdgeloopError
from edgeloop.hub.auth import load_admin_token
from edgeloop.hub.config import HubConfig
from edgeloop.hub.routes import ROUTERS
from edgeloop.hub.state import Hub, open_hub
from edgeloop.serve.http import error_response, status_of

log = logging.getLogger("edgeloop.hub")
CONFIG_ENV = "EDGELOOP_HUB_CONFIG"  # the config as JSON, for uvicorn worker processes


def create_app(config: HubConfig, hub: Hub | None = None) -> FastAPI:
    """The hub app on ``config``'s database and blob store (migrated already: `edgeloop hub migrate`)."""
    if hub is None:
        hub = open_hub(config, load_admin_token(config).sha256)
    opened = hub

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            opened.close()

    # No /docs or /openapi.json: every route but /healthz, / and /static needs a token, and the
    # API is documented in docs/hub.md.
    app = FastAPI(
        title="edgeloop hub",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.hub = hub
    for module in ROUTERS:
        app.include_router(importlib.import_module(module).router)
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
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
        return error_response(500, f"internal error ({type(exc).__name__}); the hub keeps running")


def app_from_env() -> FastAPI:
    """``create_app`` for a uvicorn worker process: the config comes from $EDGELOOP_HUB_CONFIG."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise ConfigError(f"${CONFIG_ENV} is not set; start the hub with `edgeloop hub serve`")
    return create_app(HubConfig.model_validate(json.loads(raw)))


def api_routes(app: FastAPI) -> list[tuple[str, BaseRoute]]:
    """Every route of ``app`` with its full path, routers included by ``include_router`` flattened
    (FastAPI keeps them nested), for the security test that walks them all."""
    found: list[tuple[str, BaseRoute]] = []

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                context = getattr(route, "include_context", None)
                walk(inner.routes, prefix + str(getattr(context, "prefix", "")))
            else:
                found.append((prefix + str(getattr(route, "path", "")), route))

    walk(list(app.router.routes), "")
    return found
