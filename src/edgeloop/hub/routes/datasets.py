"""Admin routes: dataset versions (list, create, show a manifest, export as a tar)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.hub import datasets
from edgeloop.hub.dataset_export import check_format, tar_folder, write_version
from edgeloop.hub.datasets import SampleFilter
from edgeloop.hub.deps import Principal, get_hub, require_admin
from edgeloop.hub.http import read_json
from edgeloop.hub.manifest import Fractions
from edgeloop.validation import format_validation_error

router = APIRouter(prefix="/api/v1/datasets")


class Where(BaseModel):
    """Sample filters of a new version (``class`` is a predicted class; times in UNIX seconds)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    device: str | None = None
    sampler: str | None = None
    class_name: str | None = Field(None, alias="class")
    since: float | None = None
    until: float | None = None
    status: str | None = None


class Split(BaseModel):
    """How new samples are split (samples already in a version keep their split)."""

    model_config = ConfigDict(extra="forbid")

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1


class CreateBody(BaseModel):
    """``POST /api/v1/datasets``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    where: Where = Where()
    include_pending: bool = False  # unreviewed samples too, their predictions taken as labels
    fractions: Split = Split()
    seed: int = 0
    note: str = Field("", max_length=2000)


def _parse(body: Any) -> CreateBody:
    try:
        return CreateBody.model_validate(body)
    except ValidationError as exc:
        raise RequestError(f"invalid dataset request: {format_validation_error(exc, 'key')}") from None


def _version_number(name: str, text: str) -> int | None:
    """``latest`` (None) or a version number from the path."""
    return datasets.parse_ref(f"{name}@{text}")[1]


@router.get("")
async def list_all(request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Every dataset: its latest version and how many versions it has."""
    versions = await run_in_threadpool(datasets.list_versions, get_hub(request).engine)
    found: dict[str, dict[str, Any]] = {}
    for v in versions:
        entry = found.setdefault(v.name, {"name": v.name, "versions": 0})
        entry["versions"] += 1
        entry["latest"] = v.summary()
    return {"datasets": list(found.values())}


@router.post("", status_code=201)
async def create(request: Request, who: Principal = Depends(require_admin)) -> JSONResponse:
    """A new version: 201 with it, or 200 ``"created": false`` when the latest is identical."""
    body = _parse(await read_json(request))
    fractions = Fractions(**body.fractions.model_dump())
    where = SampleFilter(**body.where.model_dump())
    version = await run_in_threadpool(
        lambda: datasets.create_version(
            get_hub(request).engine,
            body.name,
            where=where,
            include="all" if body.include_pending else "labelled",
            allow_predictions=body.include_pending,
            fractions=fractions,
            seed=body.seed,
            note=body.note,
        )
    )
    return JSONResponse(
        {**version.summary(), "created": version.created}, status_code=201 if version.created else 200
    )


@router.get("/{name}")
async def versions(name: str, request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """The versions of one dataset, oldest first."""
    found = await run_in_threadpool(datasets.list_versions, get_hub(request).engine, name)
    if not found:
        await run_in_threadpool(datasets.show, get_hub(request).engine, name)  # raises DatasetNotFound
    return {"name": name, "versions": [v.summary() for v in found]}


@router.get("/{name}/{version}")
async def manifest(
    name: str, version: str, request: Request, _: Principal = Depends(require_admin)
) -> dict[str, Any]:
    """One version (``latest`` or a number) with its manifest."""
    found = await run_in_threadpool(
        datasets.show, get_hub(request).engine, name, _version_number(name, version)
    )
    return {**found.summary(), "manifest": found.manifest}


@router.get("/{name}/{version}/export")
async def export(
    name: str, version: str, request: Request, _: Principal = Depends(require_admin)
) -> FileResponse:
    """The version as a dataset folder in a tar: ``NAME-vN-FORMAT/{train,val,test}/``, ``dataset.json``."""
    fmt = check_format(request.query_params.get("format") or "yolo")
    hub = get_hub(request)
    number = _version_number(name, version)
    work = Path(tempfile.mkdtemp(prefix="edgeloop-export-"))

    def build() -> tuple[Path, str]:
        shown = datasets.show(hub.engine, name, number)
        label = f"{shown.name}-v{shown.version}-{fmt}"
        write_version(shown, hub.blobs, work / label, fmt)
        tar_folder(work / label, work / f"{label}.tar", label)
        shutil.rmtree(work / label)
        return work / f"{label}.tar", label

    try:
        path, label = await run_in_threadpool(build)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type="application/x-tar",
        filename=f"{label}.tar",
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )
