"""The hub's web page: ``GET /`` (the page shell) and ``GET /static/NAME`` (its script and style).

Both are exempt from auth: they hold no data. The page reads everything through the API with the
admin token the person pastes (or opens as ``#token=...``), so a strict Content-Security-Policy
holds: scripts, styles and requests only from the hub itself, images from blob URLs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from edgeloop.errors import NotFound

router = APIRouter()

WEB = Path(__file__).resolve().parent.parent / "web"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _files() -> dict[str, Path]:
    """The page's files by name (the only paths ``/static/`` serves)."""
    if not WEB.is_dir():
        return {}
    return {p.name: p for p in WEB.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


FILES = _files()


def _send(name: str) -> FileResponse:
    path = FILES.get(name)
    if path is None:
        raise NotFound(f"no file {name[:80]!r} in the hub's web page; the page is at /")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The page shell (no data in it: it asks for the admin token)."""
    return _send("index.html")


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    """The page's script and style."""
    return _send(name)
