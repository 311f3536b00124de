"""Health, readiness, metrics and the web page."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from edgeloop.serve.metrics import CONTENT_TYPE
from edgeloop.serve.state import ServerState, authorized, server

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: ServerState = Depends(server)) -> JSONResponse:
    """Ready only when every bundle is loaded and passed its golden samples."""
    models = {
        name: {
            "ready": w.ready,
            "samples": [{"file": c.file, "ok": c.ok, "detail": c.detail} for c in w.samples],
        }
        for name, w in state.manager.items()
    }
    ready = state.manager.ready
    return JSONResponse({"ready": ready, "models": models}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(state: ServerState = Depends(authorized)) -> PlainTextResponse:
    """Prometheus metrics."""
    return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    """The web page: pick a model, drop an image, see the boxes and the JSON."""
    page = resources.files("edgeloop.serve").joinpath("web/index.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
