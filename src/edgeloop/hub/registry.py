"""The model registry: versions of each model name with lineage, metrics, gate report and blobs.

A version is reserved as a ``candidate`` when a retrain starts (so its number is known before the
bundle is signed), then completed as ``published`` (gate passed, bundle signed) or ``refused``
(the gate report says why). The current model of a name is its newest published version. The
bundle (a tar of the whole signed folder, ``bundle.sig`` included) and the training checkpoint
are blobs: ``models/<name>/<version>/bundle.tar`` and ``.../checkpoint.pt``.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.archive import create_tar, extract_tar
from edgeloop.errors import ConfigError, NotFound
from edgeloop.hub import schema
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.db import writing

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATUSES = ("candidate", "published", "refused")
BUNDLE = "bundle.tar"
CHECKPOINT = "checkpoint.pt"
_RETRIES = 5


class ModelNotFound(NotFound):
    """No model of that name, or no such version."""


@dataclass(frozen=True)
class ModelVersion:
    """One row of the models table."""

    name: str
    version: int
    counter: int | None
    status: str
    parent_version: int | None
    dataset_name: str | None
    dataset_version: int | None
    dataset_fingerprint: str | None
    metrics: dict[str, Any]
    gate: dict[str, Any] | None
    trigger: str
    job_id: int | None
    bundle_key: str | None
    checkpoint_key: str | None
    key_id: str | None
    created_at: float

    def as_dict(self, gate: bool = True) -> dict[str, Any]:
        """JSON for the API (``gate=False``: the verdict and reasons only, not the whole report)."""
        body = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if not gate:
            body["gate"] = gate_summary(self.gate)
        body["ref"] = f"{self.name}@{self.version}"
        return body


def gate_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The verdict and reasons of a stored gate report."""
    if report is None:
        return None
    return {"passed": report.get("passed"), "reasons": list(report.get("reasons", []))}


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (at most 128)")
    return name


def blob_key(name: str, version: int, file: str) -> str:
    return f"models/{name}/{version}/{file}"


def _row(row: Any) -> ModelVersion:
    return ModelVersion(**{c.name: getattr(row, c.name) for c in schema.models.c})


def reserve(
    engine: sa.Engine,
    name: str,
    *,
    parent_version: int | None = None,
    dataset: tuple[str, int, str] | None = None,
    trigger: str = "",
    job_id: int | None = None,
) -> int:
    """Insert the next version of ``name`` as a candidate; its number."""
    check_name(name)
    m = schema.models
    values: dict[str, Any] = {
        "name": name,
        "status": "candidate",
        "parent_version": parent_version,
        "metrics": {},
        "trigger": trigger[:200],
        "job_id": job_id,
        "created_at": time.time(),
    }
    if dataset is not None:
        values |= dict(zip(("dataset_name", "dataset_version", "dataset_fingerprint"), dataset, strict=True))
    for _ in range(_RETRIES):
        try:
            with writing(engine) as conn:
                latest = conn.execute(sa.select(sa.func.max(m.c.version)).where(m.c.name == name)).scalar()
                version = (latest or 0) + 1
                conn.execute(sa.insert(m).values(**values, version=version))
                return version
        except sa.exc.IntegrityError:  # another job took the number at the same moment
            continue
    raise ConfigError(f"model {name}: could not reserve a version number; try again")


def tar_bundle(bundle_dir: Path, archive: Path) -> Path:
    """Every file of a bundle folder (``bundle.sig`` too) in one reproducible tar."""
    files = {
        str(p.relative_to(bundle_dir).as_posix()): p for p in sorted(bundle_dir.rglob("*")) if p.is_file()
    }
    create_tar(files, archive)
    return archive


def complete(
    engine: sa.Engine,
    blobs: BlobStore,
    name: str,
    version: int,
    *,
    status: str,
    bundle_dir: Path | None,
    checkpoint: Path | None,
    metrics: dict[str, Any],
    gate: dict[str, Any] | None,
    counter: int | None = None,
    key_id: str | None = None,
) -> ModelVersion:
    """Store the blobs of a reserved version and set its outcome (published or refused)."""
    if status not in ("published", "refused"):
        raise ValueError(f"status {status!r}")
    values: dict[str, Any] = {
        "status": status,
        "metrics": metrics,
        "gate": gate,
        "counter": counter,
        "key_id": key_id,
    }
    if bundle_dir is not None:
        with tempfile.TemporaryDirectory(prefix="edgeloop-registry-") as tmp:
            archive = tar_bundle(bundle_dir, Path(tmp) / BUNDLE)
            values["bundle_key"] = blob_key(name, version, BUNDLE)
            blobs.put(values["bundle_key"], archive.read_bytes())
    if checkpoint is not None:
        values["checkpoint_key"] = blob_key(name, version, CHECKPOINT)
        blobs.put(values["checkpoint_key"], checkpoint.read_bytes())
    m = schema.models
    with writing(engine) as conn:
        row = conn.execute(
            sa.update(m).where(m.c.name == name, m.c.version == version).values(**values).returning(*m.c)
        ).one()
    return _row(row)


def current(engine: sa.Engine, name: str) -> ModelVersion | None:
    """The newest published version of ``name`` (what devices should run), or None."""
    m = schema.models
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(m)
            .where(m.c.name == name, m.c.status == "published")
            .order_by(m.c.version.desc())
            .limit(1)
        ).first()
    return None if row is None else _row(row)


def list_versions(engine: sa.Engine, name: str | None = None) -> list[ModelVersion]:
    """Every version (of ``name``), by name, newest version first."""
    m = schema.models
    query = sa.select(m).order_by(m.c.name, m.c.version.desc())
    if name is not None:
        query = query.where(m.c.name == name)
    with engine.begin() as conn:
        return [_row(r) for r in conn.execute(query)]


def show(engine: sa.Engine, name: str, version: int | None = None) -> ModelVersion:
    """One version (None: the current published one, else the newest).

    Raises:
        ModelNotFound: no such model or version.
    """
    check_name(name)
    m = schema.models
    query = sa.select(m).where(m.c.name == name)
    query = query.where(m.c.version == version) if version is not None else query.order_by(m.c.version.desc())
    if version is None:
        found = current(engine, name)
        if found is not None:
            return found
    with engine.begin() as conn:
        row = conn.execute(query.limit(1)).first()
        have = conn.execute(sa.select(sa.func.max(m.c.version)).where(m.c.name == name)).scalar()
    if row is None:
        if have is None:
            raise ModelNotFound(
                f"no model {name!r}; add one with: edgeloop hub model add RUN_OR_BUNDLE --name {name}"
            )
        raise ModelNotFound(f"model {name} has no version {version}; its versions are 1..{have}")
    return _row(row)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@VERSION`` -> (name, version or None)."""
    name, _, version = ref.partition("@")
    check_name(name)
    if version in ("", "latest", "current"):
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ConfigError(f"{ref}: the version after '@' is a number from 1, e.g. {name}@2")
    return name, int(version)


def bundle_bytes(blobs: BlobStore, model: ModelVersion) -> bytes:
    """The version's bundle tar.

    Raises:
        ModelNotFound: the version has no stored bundle (a job that failed before exporting).
    """
    if model.bundle_key is None:
        raise ModelNotFound(f"model {model.name}@{model.version} has no bundle (status {model.status})")
    return blobs.get(model.bundle_key)


def fetch(blobs: BlobStore, model: ModelVersion, out: Path) -> tuple[Path, Path | None]:
    """Unpack the version's bundle into ``out/bundle`` and its checkpoint to ``out/checkpoint.pt``."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / BUNDLE
    archive.write_bytes(bundle_bytes(blobs, model))
    extract_tar(archive, out / "bundle")
    archive.unlink()
    checkpoint = None
    if model.checkpoint_key is not None:
        checkpoint = out / CHECKPOINT
        checkpoint.write_bytes(blobs.get(model.checkpoint_key))
    return out / "bundle", checkpoint
