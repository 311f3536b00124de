"""Helpers for the deploy tests: reading generated Dockerfiles, finding tools."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def tool(name: str, how: str) -> str:
    """A command from the test venv or PATH; skip without it (fail under CI=true)."""
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        message = f"{name} missing: {how}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def stages(dockerfile: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), per stage."""
    out: list[list[str]] = []
    current = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip() if current else line.rstrip("\\").strip()
        if raw.rstrip().endswith("\\"):
            continue
        if current.startswith("FROM "):
            out.append([])
        out[-1].append(current)
        current = ""
    return out


# Model files that only a device toolchain makes (an RVC2 blob, an Edge TPU .tflite): the deploy
# tests never run them, they check that the recipe ships them and refuses bundles without them.
STAND_INS = {
    "depthai": ("myriad/model.blob", "fp16"),
    "litert": ("model_int8_edgetpu.tflite", "int8"),
    "ncnn": ("ncnn/model.ncnn.param", "fp32"),
}


def with_variant(src: Path, dest: Path, backend: str) -> Path:
    """A copy of the bundle at ``src`` with a variant for ``backend`` (bytes standing in for it)."""
    from edgeloop.bundle import Variant, load_bundle, sha256_file, write_manifest

    shutil.copytree(src, dest)
    name, precision = STAND_INS[backend]
    path = dest / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"stand-in {backend} model\n".encode())
    extra = {}
    if backend == "ncnn":
        weights = path.with_name("model.ncnn.bin")
        weights.write_bytes(b"\0" * 16)
        extra = {weights.relative_to(dest).as_posix(): sha256_file(weights)}
    manifest = load_bundle(dest).manifest
    variant = Variant(
        file=name,
        precision=precision,  # type: ignore[arg-type]
        backends=[backend],
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        extra_files=extra,
    )
    write_manifest(dest, manifest.model_copy(update={"variants": [*manifest.variants, variant]}))
    load_bundle(dest)  # verifies
    return dest


def bundle_for(target_key: str, src: Path, work: Path) -> Path:
    """``src``, or a copy with the variant the target needs."""
    from edgeloop.deploy.targets import TARGETS

    need = TARGETS[target_key].needs_variant
    return src if need is None else with_variant(src, work / f"bundle-{need}", need)
