"""Security over real HTTP: every route needs its token, hostile uploads store nothing, no token in logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from edgeloop.hub.app import api_routes, create_app
from edgeloop.hub.config import HubConfig
from edgeloop.hub.deps import require_admin, require_any, require_device
from edgeloop.hub.setup import migrate
from edgeloop.testing.hub_hostile import Hostile, hostile_cases
from edgeloop.testing.hub_server import HubServer
from tests.hub.conftest import no_change

EXEMPT = {"/healthz", "/"}


def _routes(tmp_path: Path) -> list[tuple[str, str, str]]:
    """(method, path, role) of every route of the app: role "admin", "device", "any" or "exempt"."""
    config = HubConfig(data_dir=tmp_path / "routes")
    migrate(config)
    app = create_app(config)
    found = []
    for path, route in api_routes(app):
        if not isinstance(route, APIRoute):
            assert path.startswith("/static"), f"unexpected non-API route {path}"
            continue
        calls = {dep.call for dep in route.dependant.dependencies}
        role = (
            "admin"
            if require_admin in calls
            else "device"
            if require_device in calls
            else "any"
            if require_any in calls
            else "exempt"
        )
        if role == "exempt":
            assert route.path in EXEMPT or route.path.startswith("/static"), (
                f"{route.path} has no auth dependency"
            )
        for method in sorted(route.methods):
            found.append((method, route.path, role))
    app.state.hub.close()
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x" * 8, path)


def test_every_route_needs_the_right_token(sqlite_hub: HubServer, tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    assert len(routes) >= 10
    device = sqlite_hub.add_device("cam1")
    seen = 0
    for method, path, role in routes:
        if role == "exempt":
            continue
        url = _concrete(path)
        for token in (None, "wrong-token-value-xyz"):
            status, headers, _ = sqlite_hub.request(method, url, b"{}", token=token)
            assert status == 401, (method, path, status)
            assert headers.get("www-authenticate") == "Bearer"
        status, _, _ = sqlite_hub.request(method, url, b"{}", token=device)
        if role == "admin":
            assert status == 403, (method, path, status)
        else:
            assert status not in (401, 403), (method, path, status)
        status, _, _ = sqlite_hub.request(method, url, b"{}", token="admin")
        if role == "device":
            assert status == 403, (method, path, status)
        seen += 1
    assert seen >= 10
    assert sqlite_hub.request("GET", "/healthz", token=None)[0] == 200
    assert sqlite_hub.request("GET", "/openapi.json", token=None)[0] == 404


def _send(server: HubServer, case: Hostile, device: str) -> int:
    token = device if case.token == "device" else case.token
    try:
        return server.request(case.method, case.path, case.body, case.headers, token)[0]
    except (ConnectionResetError, BrokenPipeError):
        return 413  # the hub answered and closed while the oversize body was still being sent


@pytest.mark.parametrize("rounds", [2])
def test_hostile_uploads_store_nothing(sqlite_hub: HubServer, rounds: int) -> None:
    device = sqlite_hub.add_device("cam1")
    codes: dict[int, int] = {}
    with no_change(sqlite_hub):
        for seed in range(rounds):
            for case in hostile_cases(seed, big=seed == 0):
                status = _send(sqlite_hub, case, device)
                assert 400 <= status < 500, (case.name, status)
                codes[status] = codes.get(status, 0) + 1
    assert sum(codes.values()) >= 95
    assert {400, 401, 403, 404, 413, 415} <= set(codes), codes
    assert sqlite_hub.alive() and sqlite_hub.request("GET", "/healthz", token=None)[0] == 200
    log = sqlite_hub.log()
    assert "Traceback" not in log and "500 Internal" not in log
    assert sqlite_hub.admin_token not in log and device not in log
