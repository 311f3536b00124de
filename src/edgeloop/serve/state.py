"""What every route needs: the models, the settings and the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from edgeloop.improve.hook import CaptureHook
from edgeloop.serve.config import ServeConfig
from edgeloop.serve.http import check_token
from edgeloop.serve.manager import ModelManager
from edgeloop.serve.metrics import Metrics
from edgeloop.serve.pipelines import PipelineManager


@dataclass
class ServerState:
    """Shared server objects, stored on ``app.state.server``."""

    config: ServeConfig
    manager: ModelManager
    metrics: Metrics
    pipelines: PipelineManager
    capture: CaptureHook | None = None


async def server(request: Request) -> ServerState:
    """FastAPI dependency: the server state."""
    state: ServerState = request.app.state.server
    return state


async def authorized(request: Request) -> ServerState:
    """FastAPI dependency: the server state, after checking the bearer token.

    Dependencies are async because FastAPI would run a plain function on a
    worker thread: a needless hand-off on every request.
    """
    state: ServerState = request.app.state.server
    check_token(request, state.config.token)
    return state
