"""Bundles: a folder (or one .tar) holding everything a device needs to run a model.

```
bundle.json   manifest: task (detect|classify|raw), output family, input spec, names, variants + sha256
model.onnx    one file per variant (model.int8.onnx, ... added by optimize steps)
samples/      golden images with expected results, for on-device health checks
```
Loading verifies every sha256 before the first inference.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgeloop.archive import ArchiveLimits, create_tar, extract_tar, safe_member_path
from edgeloop.errors import ArchiveError, BundleError
from edgeloop.postprocess.families import FAMILIES, get_family
from edgeloop.preprocess import InputSpec
from edgeloop.validation import format_validation_error

MANIFEST = "bundle.json"
SIGNATURE = "bundle.sig"  # Ed25519 signature over the manifest (edgeloop.signing); travels with the bundle
FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Backends that cannot read an ONNX file: only a variant made for them runs there. The others
# (onnxruntime, openvino, tensorrt) run the ONNX default when they have no own variant of its precision.
NON_ONNX_BACKENDS = frozenset({"depthai", "litert", "ncnn"})


class Variant(BaseModel):
    """One model file of the bundle, e.g. the FP32 original or an INT8 copy."""

    model_config = ConfigDict(extra="forbid")

    file: str
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    backends: list[str] = Field(default_factory=lambda: ["onnxruntime"])
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    metrics: dict[str, float] = Field(default_factory=dict)
    extra_files: dict[str, str] = Field(
        default_factory=dict,
        description="other files the model needs (e.g. OpenVINO's weights .bin): name -> sha256",
    )

    @field_validator("file")
    @classmethod
    def _relative(cls, v: str) -> str:
        _check_relative(v)
        return v

    @field_validator("extra_files")
    @classmethod
    def _extra(cls, v: dict[str, str]) -> dict[str, str]:
        for name, digest in v.items():
            _check_relative(name)
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"extra file '{name}': sha256 must be 64 lowercase hex digits")
        return v


class Sample(BaseModel):
    """A golden image and what the model must find in it."""

    model_config = ConfigDict(extra="forbid")

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    expected: dict[str, Any] = Field(default_factory=dict, description="wire-format result")

    @field_validator("file")
    @classmethod
    def _relative(cls, v: str) -> str:
        _check_relative(v)
        return v


class Provenance(BaseModel):
    """Where the bundle came from."""

    model_config = ConfigDict(extra="allow")

    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    tool: str = "edgeloop"
    source: str | None = None
    source_sha256: str | None = None
    dataset_fingerprint: str | None = None
    parent_version: str | None = None


class Manifest(BaseModel):
    """The contents of ``bundle.json``."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    name: str
    version: str = "1"
    task: Literal["detect", "classify", "raw"]
    family: str
    input: InputSpec
    names: list[str]
    conf: float = Field(default=0.25, ge=0, le=1)
    iou: float = Field(default=0.7, ge=0, le=1)
    max_det: int = Field(default=300, ge=1)
    head: dict[str, Any] | None = Field(
        default=None,
        description="what the family's decoder needs besides the outputs (anchors, prior boxes), "
        "read from the source model by the importer; the family validates it",
    )
    variants: list[Variant] = Field(min_length=1)
    default_variant: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)
    samples: list[Sample] = Field(default_factory=list)
    signature: str | None = None
    counter: int | None = Field(
        default=None, ge=0, description="monotonic release counter, set when signed; devices refuse older"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                "use letters, digits, '.', '_' or '-' (up to 128), starting with a letter or digit"
            )
        return v

    @field_validator("family")
    @classmethod
    def _family(cls, v: str) -> str:
        if v not in FAMILIES:
            raise ValueError(f"unknown output family '{v}': choose one of {', '.join(FAMILIES.names())}")
        return v

    @field_validator("format_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v > FORMAT_VERSION:
            raise ValueError(
                f"bundle format {v} is newer than this edgeloop reads ({FORMAT_VERSION}): upgrade edgeloop"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        family_task = get_family(self.family).task
        if family_task != self.task:
            raise ValueError(f"family '{self.family}' is for task '{family_task}', not '{self.task}'")
        files = [v.file for v in self.variants]
        if len(set(files)) != len(files):
            raise ValueError("two variants name the same file")
        if self.default_variant is not None and self.default_variant not in files:
            raise ValueError(f"default_variant '{self.default_variant}' is not one of the variants")
        return self

    def variant(self, precision: str | None = None, backend: str | None = None) -> Variant:
        """The variant to run: the default one, or the first of ``precision``.

        With ``backend``, a variant made for that backend (e.g. OpenVINO IR for
        ``openvino``) of the same precision is preferred; without one, the
        first variant of that precision is used (ONNX, which most backends read).
        With neither ``precision`` nor such a variant, a backend that cannot read ONNX
        (``NON_ONNX_BACKENDS``) gets the first variant made for it (a device's only
        format: an FP16 NN Archive for ``depthai``).
        """
        default = next(v for v in self.variants if v.file == (self.default_variant or self.variants[0].file))
        if precision is None:
            if backend is None or backend in default.backends:
                return default
            precision = default.precision
            own_only = [v for v in self.variants if backend in v.backends]
            if (
                backend in NON_ONNX_BACKENDS
                and own_only
                and not any(v.precision == precision for v in own_only)
            ):
                return own_only[0]
        pool = [v for v in self.variants if v.precision == precision]
        if not pool:
            have = ", ".join(v.precision for v in self.variants)
            raise BundleError(f"bundle '{self.name}' has no {precision} variant (it has: {have})")
        own = [v for v in pool if backend is not None and backend in v.backends]
        return (own or pool)[0]

    def onnx_variant(self, precision: str | None = None) -> Variant:
        """The ONNX file of ``precision`` (default: fp32), never an IR or other format: for a
        runtime that must be given ONNX (OpenVINO 2022.3 for an NCS2 reads ONNX but maybe not
        the operator versions of an IR written by a newer OpenVINO).

        Raises:
            BundleError: no ONNX variant of that precision.
        """
        want = precision or "fp32"
        for v in self.variants:
            if v.precision == want and v.file.endswith(".onnx"):
                return v
        have = ", ".join(v.file for v in self.variants)
        raise BundleError(f"bundle '{self.name}' has no {want} ONNX model (it has: {have})")


def _check_relative(name: str) -> None:
    try:
        path = safe_member_path(name)
    except ArchiveError as exc:
        raise ValueError(str(exc)) from None
    if path.name in ("", ".") or path.parts[0] in (MANIFEST, SIGNATURE):
        raise ValueError(f"'{name}' is not a file name inside the bundle")


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    root: Path
    manifest: Manifest

    def path(self, name: str) -> Path:
        """Absolute path of a file named in the manifest."""
        return self.root.joinpath(*safe_member_path(name).parts)

    def model_path(self, precision: str | None = None, backend: str | None = None) -> Path:
        """Path of the model file ``Manifest.variant(precision, backend)`` picks."""
        return self.path(self.manifest.variant(precision, backend).file)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: Path) -> Manifest:
    """Parse and validate ``bundle.json`` without checking the files it names."""
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(
            f"{root}: not a bundle (no {MANIFEST}); create one with `edgeloop import MODEL.onnx --out DIR`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise BundleError(format_validation_error(exc, "key", prefix=str(path), model=Manifest)) from None


def verify_files(bundle: Bundle) -> None:
    """Check that every variant and sample exists, stays inside the bundle, and matches its sha256."""
    root = bundle.root.resolve()
    named = [(v.file, v.sha256) for v in bundle.manifest.variants]
    named += [item for v in bundle.manifest.variants for item in v.extra_files.items()]
    named += [(s.file, s.sha256) for s in bundle.manifest.samples]
    for name, expected in named:
        path = bundle.path(name)
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            raise BundleError(f"{path}: links are not allowed inside a bundle")
        if not path.is_file():
            raise BundleError(f"{path}: listed in {MANIFEST} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{path}: sha256 mismatch (manifest {expected[:12]}..., file {actual[:12]}...): "
                "the file was changed or corrupted; re-copy the bundle"
            )


def load_bundle(path: str | Path) -> Bundle:
    """Open a bundle folder or ``.tar``, validate its manifest and verify every file.

    Raises:
        BundleError: missing or invalid manifest, missing file, sha256 mismatch.
        ArchiveError: a ``.tar`` with unsafe members.
    """
    path = Path(path)
    if path.is_file() and tarfile_like(path):
        return _unpack_temporary(path)
    if not path.exists():
        raise BundleError(f"{path}: no such bundle folder or .tar")
    bundle = Bundle(path, read_manifest(path))
    verify_files(bundle)
    return bundle


def tarfile_like(path: Path) -> bool:
    """Whether ``path`` names a tar archive by its extension."""
    return path.name.endswith((".tar", ".tar.gz", ".tgz"))


def _unpack_temporary(archive: Path) -> Bundle:
    dest = Path(tempfile.mkdtemp(prefix="edgeloop-bundle-"))
    atexit.register(shutil.rmtree, dest, ignore_errors=True)
    return unpack(archive, dest)


def manifest_text(manifest: Manifest) -> str:
    """Exactly what ``write_manifest`` writes (signature checks compare ``bundle.json`` with it)."""
    return manifest.model_dump_json(indent=2, exclude_none=True) + "\n"


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write ``bundle.json`` atomically (temporary file, then rename)."""
    tmp = root / (MANIFEST + ".partial")
    tmp.write_text(manifest_text(manifest), encoding="utf-8", newline="\n")  # same bytes on every OS
    os.replace(tmp, root / MANIFEST)


def pack(bundle_dir: str | Path, archive: str | Path) -> Path:
    """Verify a bundle folder and write it as one ``.tar`` (manifest, signature if any, the files named)."""
    bundle = load_bundle(bundle_dir)
    files = {MANIFEST: bundle.root / MANIFEST}
    if (bundle.root / SIGNATURE).is_file():
        files[SIGNATURE] = bundle.root / SIGNATURE
    names = [v.file for v in bundle.manifest.variants] + [s.file for s in bundle.manifest.samples]
    names += [name for v in bundle.manifest.variants for name in v.extra_files]
    for name in names:
        files[name] = bundle.path(name)
    archive = Path(archive)
    create_tar(files, archive)
    return archive


def unpack(archive: str | Path, dest: str | Path, limits: ArchiveLimits | None = None) -> Bundle:
    """Safely extract a bundle ``.tar`` into ``dest`` and verify it."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BundleError(f"{dest}: folder is not empty; choose a new folder to unpack into")
    extract_tar(archive, dest, limits)
    bundle = Bundle(dest, read_manifest(dest))
    verify_files(bundle)
    return bundle
