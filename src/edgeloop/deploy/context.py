"""What every recipe ships: the verified bundle, pinned requirements, edgeloop's wheel."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgeloop.bundle import Manifest, load_bundle
from edgeloop.deploy.base import Target
from edgeloop.deploy.choose import Choice, choose
from edgeloop.deploy.wheel import build_wheel
from edgeloop.errors import DeployError

Mode = Literal["serve", "run"]
PORT = 9001
DEFAULT_RUN_ARGS = "--source /dev/video0 --sink jsonl:-"
# The one pip command line images and install.sh share: wheels only (nothing is compiled, so
# no compiler is needed anywhere) and no dependency resolution (only the pinned set goes in).
# Images turn pip's cache off with PIP_NO_CACHE_DIR; install.sh keeps it, for reinstalls.
PIP_FLAGS = "--disable-pip-version-check --only-binary=:all: --no-deps"


@dataclass(frozen=True)
class Staged:
    """A recipe folder with the shared parts written."""

    out: Path
    manifest: Manifest
    wheel: Path  # inside out/wheels
    requirements: Path  # out/requirements.txt
    choice: Choice  # the runtime the recipe runs (the target may have switched it), and why

    @property
    def target(self) -> Target:
        return self.choice.target


def prepare_out(out: Path) -> None:
    """Create ``out``, refusing a folder that already holds files.

    Raises:
        DeployError: ``out`` is a file or a non-empty folder.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DeployError(f"{out} already exists and is not an empty folder: choose a new --out")
    out.mkdir(parents=True, exist_ok=True)


def requirements_text(target: Target) -> str:
    """The pinned requirements file for ``target``."""
    lines = [
        f"# edgeloop runtime for target {target.key}: {target.title}",
        f"# Python {target.python_version}; install with: pip install {PIP_FLAGS} -r requirements.txt",
    ]
    if target.runtime_index is not None:
        lines.append(f"# {target.runtime} comes from {target.runtime_index}, installed separately.")
    if target.runtime_in_base:
        lines.append(f"# {target.runtime} comes with the base image ({target.base_image}).")
    return "\n".join([*lines, *target.requirements()]) + "\n"


def check_variant(target: Target, manifest: Manifest) -> None:
    """Refuse a bundle without the model file the target's runtime needs.

    Raises:
        DeployError: the target needs a variant made for its backend and the bundle has none.
    """
    if target.runs_onnx and not any(
        v.precision == "fp32" and v.file.endswith(".onnx") for v in manifest.variants
    ):
        have = ", ".join(v.file for v in manifest.variants)
        raise DeployError(
            f"target {target.key} runs the bundle's FP32 ONNX model with {target.runtime} (an IR written "
            f"by a newer OpenVINO may use operators it cannot read) and bundle '{manifest.name}' has none "
            f"(it has: {have}): deploy a bundle imported or exported as ONNX"
        )
    need = target.needs_variant
    if need is None or any(need in v.backends for v in manifest.variants):
        return
    have = ", ".join(f"{v.file} ({'/'.join(v.backends)})" for v in manifest.variants)
    raise DeployError(
        f"target {target.key} runs a {need} model and bundle '{manifest.name}' has none (it has: {have}): "
        f"make one with {target.needs_hint}"
    )


def stage(bundle: Path, target: Target, out: Path, board: str | None = None) -> Staged:
    """Verify ``bundle``, pick the runtime, then write the bundle, requirements, wheel and
    ``context.json`` (what was chosen and why) into ``out``.

    Raises:
        BundleError: the bundle is invalid or a file's sha256 differs.
        DeployError: ``out`` is in use, the bundle lacks the model the target needs, or
            ``board`` is not one the target is for.
    """
    loaded = load_bundle(bundle)  # verify before anything is written
    choice = choose(target, loaded.manifest, str(loaded.model_path()), board)
    target = choice.target
    check_variant(target, loaded.manifest)
    prepare_out(out)
    dest = out / "bundle"
    shutil.copytree(loaded.root, dest, ignore=shutil.ignore_patterns("*.partial", "trt_cache"))
    for path in [dest, *dest.rglob("*")]:
        # Readable by the service user in the image, writable by nobody but root.
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    copied = load_bundle(dest)
    requirements = out / "requirements.txt"
    requirements.write_text(requirements_text(target))
    (out / "context.json").write_text(json.dumps(choice.record(), indent=1) + "\n")
    wheel = build_wheel(out / "wheels")
    return Staged(out=out, manifest=copied.manifest, wheel=wheel, requirements=requirements, choice=choice)


def command_args(mode: Mode, bundle_path: str, target: Target, run_args: str | None) -> list[str]:
    """The ``edgeloop`` arguments a recipe runs, without host and port for ``serve``.

    Raises:
        DeployError: ``run_args`` given with ``serve``, or not parseable as shell words.
    """
    runtime = [] if target.backend == "onnxruntime" else ["--backend", target.backend]
    if target.device is not None:
        runtime += ["--device", target.device]
    if mode == "serve":
        if run_args:
            raise DeployError("--run-args is for --mode run; serve options are set in the recipe")
        return ["serve", bundle_path, *runtime]
    try:
        extra = shlex.split(run_args if run_args is not None else DEFAULT_RUN_ARGS)
    except ValueError as exc:
        raise DeployError(f"--run-args: {exc}: quote it as shell words") from None
    if "--source" not in extra and "-s" not in extra:
        raise DeployError("--run-args needs at least one --source (e.g. --source /dev/video0)")
    return ["run", bundle_path, *runtime, *extra]


def video_devices(args: list[str]) -> list[str]:
    """The ``/dev/video*`` nodes among the arguments (cameras the recipe must pass in)."""
    return [a for a in args if a.startswith("/dev/video")]
