"""What every route needs: the models, the settings and the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from edgeloop.serve.config import ServeConfig
from edgeloop.serve.http import check_token
from edgeloop.serve.manager import ModelManager
from edgeloop.serve.metrics import Metrics


@dataclass
class ServerState:
    """Shared server objects, stored on ``app.state.server``."""

    config: ServeConfig
    manager: ModelManager
    metrics: Metrics


def server(request: Request) -> ServerState:
    """FastAPI dependency: the server state."""
    state: ServerState = request.app.state.server
    return state


def authorized(request: Request) -> ServerState:
    """FastAPI dependency: the server state, after checking the bearer token."""
    state = server(request)
    check_token(request, state.config.token)
    return state
