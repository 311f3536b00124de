"""Models folders for tests: versions of one bundle installed under ``versions/<key>``, and a switch.

What the agent does for real (verify, stage, health-check) is skipped: these
install complete folders and move ``current`` the way the agent does (a
relative symlink replaced with one ``os.replace``, then an fsync of the folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from edgeloop.agent.layout import CURRENT, VERSIONS
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.testing.onnx_models import colour_detector


def base_bundle(folder: Path, name: str = "colour", imgsz: int = 320) -> Path:
    """A small colour-detector bundle named ``name`` at ``folder/base`` (made once)."""
    out = folder / "base"
    if not (out / "bundle.json").exists():
        model = colour_detector(folder / f"{name}.onnx", imgsz=(imgsz, imgsz), stride=32)
        import_onnx(model, out, ImportOptions(name=name))
    return out


def install(models_dir: Path, base: Path, version: str, counter: int, broken: bool = False) -> str:
    """Copy ``base`` as ``version`` (``counter``) into ``<models>/versions/<key>``; its key.

    ``broken``: the model file is cut short, so the version fails to load.
    """
    staging = models_dir / "staging" / version
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(base, staging)
    manifest_path = staging / "bundle.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"], manifest["counter"] = version, counter
    manifest_path.write_text(json.dumps(manifest, indent=2))
    if broken:
        model = staging / "model.onnx"
        model.write_bytes(model.read_bytes()[:1000])
    key = f"{counter:08d}-{hashlib.sha256(manifest_path.read_bytes()).hexdigest()[:12]}"
    (models_dir / VERSIONS).mkdir(parents=True, exist_ok=True)
    staging.rename(models_dir / VERSIONS / key)
    return key


def switch(models_dir: Path, key: str, link: str = CURRENT) -> None:
    """Point ``<models>/<link>`` at ``versions/<key>``: one ``os.replace`` of a relative symlink."""
    temp = models_dir / f".{link}.tmp"
    if temp.is_symlink() or temp.exists():
        temp.unlink()
    os.symlink(f"{VERSIONS}/{key}", temp)
    os.replace(temp, models_dir / link)
    fd = os.open(models_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
