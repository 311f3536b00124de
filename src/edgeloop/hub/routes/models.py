"""Admin routes: the model registry (versions, lineage, gate reports, signed bundle download)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import NotFound
from edgeloop.hub import registry
from edgeloop.hub.deps import Principal, get_hub, require_admin

router = APIRouter(prefix="/api/v1/models")
REPORT_TYPES = {".md": "text/markdown; charset=utf-8", ".json": "application/json", ".png": "image/png"}


def _find(request: Request, name: str, version: str) -> registry.ModelVersion:
    number = registry.parse_ref(f"{name}@{version}")[1]
    return registry.show(get_hub(request).engine, name, number)


@router.get("")
async def list_all(request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Every version of every model (``?name=`` one model), newest first; gate verdicts only."""
    name = request.query_params.get("name")
    if name is not None:
        registry.check_name(name)
    found = await run_in_threadpool(registry.list_versions, get_hub(request).engine, name)
    current: dict[str, int] = {}
    for m in found:
        if m.status == "published":
            current.setdefault(m.name, m.version)
    return {"models": [{**m.as_dict(gate=False), "current": current.get(m.name) == m.version} for m in found]}


@router.get("/{name}/{version}")
async def show(
    name: str, version: str, request: Request, _: Principal = Depends(require_admin)
) -> dict[str, Any]:
    """One version (a number, or ``current``) with its whole gate report."""
    found = await run_in_threadpool(_find, request, name, version)
    return found.as_dict()


@router.get("/{name}/{version}/bundle")
async def bundle(
    name: str, version: str, request: Request, _: Principal = Depends(require_admin)
) -> Response:
    """The version's bundle as one tar (signed when published: ``bundle.sig`` inside)."""
    hub = get_hub(request)
    found = await run_in_threadpool(_find, request, name, version)
    data = await run_in_threadpool(registry.bundle_bytes, hub.blobs, found)
    return Response(
        data,
        media_type="application/x-tar",
        headers={"Content-Disposition": f'attachment; filename="{found.name}-v{found.version}.tar"'},
    )


@router.get("/{name}/{version}/gate")
async def gate(
    name: str, version: str, request: Request, _: Principal = Depends(require_admin)
) -> dict[str, Any]:
    """The version's gate report (JSON): verdict, reasons, the tables."""
    found = await run_in_threadpool(_find, request, name, version)
    if found.gate is None:
        raise NotFound(f"model {found.name}@{found.version} has no gate report (status {found.status})")
    return {"model": found.name, "version": found.version, "status": found.status, "gate": found.gate}


@router.get("/{name}/{version}/gate/{file}")
async def gate_file(
    name: str, version: str, file: str, request: Request, _: Principal = Depends(require_admin)
) -> Response:
    """A file of the stored gate report (``gate.md``, ``gate.json``, the per-class plots)."""
    hub = get_hub(request)
    found = await run_in_threadpool(_find, request, name, version)
    suffix = "." + file.rpartition(".")[2] if "." in file else ""
    if suffix not in REPORT_TYPES or "/" in file or file.startswith("."):
        raise NotFound(f"no report file {file[:80]!r}; the report is gate.md, gate.json and PNG plots")
    key = registry.blob_key(found.name, found.version, f"gate/{file}")
    data = await run_in_threadpool(hub.blobs.get, key)
    return Response(data, media_type=REPORT_TYPES[suffix])
