"""The page's routes on the real hub: served without a token, nothing else reachable through them."""

from __future__ import annotations

import re

import httpx

from edgeloop.hub.routes.web import FILES
from edgeloop.testing.hub_server import HubServer


def test_page_needs_no_token_and_serves_only_its_files(sqlite_hub: HubServer) -> None:
    page = httpx.get(sqlite_hub.url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "img-src 'self' blob:" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    # Everything the shell loads is served, under /static, with its own type; nothing from elsewhere.
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    loaded = [link for link in links if link != "data:,"]  # the empty favicon, so the browser asks for none
    assert sorted(loaded) == [
        "/static/app.css",
        "/static/app.js",
        "/static/retrain.js",
        "/static/review.js",
        "/static/rollouts.js",
    ]
    for path in loaded:
        r = httpx.get(sqlite_hub.url + path, timeout=10)
        assert r.status_code == 200, path
        kind = "text/css" if path.endswith(".css") else "text/javascript"
        assert r.headers["content-type"].startswith(kind)
        assert "http://" not in r.text and "https://" not in r.text, f"{path} names another server"
    assert set(FILES) == {"index.html", "app.css", "app.js", "review.js", "retrain.js", "rollouts.js"}
    # /static/ serves those files and nothing else of the hub's package or data folder.
    for path in (
        "/static/hub.db",
        "/static/admin.token",
        "/static/..%2Fadmin.token",
        "/static/%2e%2e/web.py",
    ):
        r = httpx.get(sqlite_hub.url + path, timeout=10)
        assert r.status_code == 404, path
        assert sqlite_hub.admin_token not in r.text
    # The data stays behind the token.
    assert httpx.get(sqlite_hub.url + "/api/v1/devices", timeout=10).status_code == 401
