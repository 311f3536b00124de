"""Offline Myriad X compilation (OAK RVC2 cameras, Intel Movidius NCS2) in a pinned container.

The Myriad X compiler left OpenVINO after the 2022.3 LTS and Luxonis' blob converter is an
online service, so edgeloop compiles with OpenVINO 2022.3 LTS's own tools inside its official
developer image, offline (``docker run --network none``) and without an account:

1. ``mo``: the bundle's ONNX -> OpenVINO IR in FP16 taking the bundle's prepared tensor (for an
   NCS2 on OpenVINO 2022.3, which compiles it for MYRIAD when it loads);
2. ``mo`` again with the bundle's normalization baked in (``--mean_values`` / ``--scale_values``),
   then ``compile_tool -d MYRIAD -ip U8``: ``model.blob`` taking raw 0-255 pixels, for 6 SHAVEs
   and 6 CMX slices (an OAK camera feeds it frames directly).

Only ``docker build`` (pulling the base image once) needs the network. Untested here: no
Docker engine runs on the machines that build edgeloop, so the container was never built
or run by its tests; they check the recipe (hadolint) and the command lines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgeloop.bundle import Bundle, sha256_file
from edgeloop.errors import BundleError, ConfigError, EdgeloopError
from edgeloop.export.nn_archive import pack_nn_archive, pixel_normalization

OPENVINO_IMAGE = "openvino/ubuntu20_dev:2022.3.1"
"""OpenVINO 2022.3.1 LTS developer image (``mo``, ``compile_tool``, the MYRIAD plugin), pinned by tag:
the release of the ``ncs2`` deploy target's runtime image, so what it compiles is what that runs
(Intel's Docker images for 2022.3 stop at 2022.3.1)."""
IMAGE_TAG = "edgeloop-myriad:2022.3.1"
BLOB_FILE = "myriad/model.blob"
ARCHIVE_FILE = "myriad/model.rvc2.tar.xz"
IR_FILE = "myriad/model.xml"
IR_BIN_FILE = "myriad/model.bin"
DEFAULT_SHAVES = 6
RECIPE_FILE = "recipe.json"
# Tensor names the recipe passes to mo (ONNX names such as images, input.1, x:0, in/put).
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*")

DOCKERFILE = f"""\
# Myriad X (OAK RVC2, Intel NCS2) compiler: OpenVINO 2022.3 LTS, the last release with it.
# Build once (the only step that needs the network): docker build -t {IMAGE_TAG} .
# Compile offline: docker run --rm --network none -v "$PWD":/io {IMAGE_TAG} INPUT SHAPE MEAN SCALE SHAVES
FROM {OPENVINO_IMAGE}
WORKDIR /io
COPY compile.sh /opt/edgeloop/compile.sh
ENTRYPOINT ["/bin/bash", "/opt/edgeloop/compile.sh"]
"""

COMPILE_SCRIPT = """\
#!/bin/bash
# /io/model.onnx -> /io/ir/model.xml (+ .bin): FP16 IR taking the bundle's normalized input (NCS2)
#                -> /io/model.blob: Myriad X blob taking 0-255 pixels (U8), normalization inside (OAK)
# usage: compile.sh INPUT SHAPE MEAN SCALE SHAVES   e.g. images 1,3,640,640 0,0,0 255,255,255 6
set -euo pipefail
input="$1"; shape="$2"; mean="$3"; scale="$4"; shaves="$5"
ov="${INTEL_OPENVINO_DIR:-/opt/intel/openvino}"
# shellcheck disable=SC1091
source "$ov/setupvars.sh" >/dev/null
mo --input_model /io/model.onnx --output_dir /io/ir --model_name model --compress_to_fp16 \\
   --input "${input}[${shape}]"
mo --input_model /io/model.onnx --output_dir /io/blob-ir --model_name model --compress_to_fp16 \\
   --input "${input}[${shape}]" --mean_values "${input}[${mean}]" --scale_values "${input}[${scale}]"
"$ov/tools/compile_tool/compile_tool" -m /io/blob-ir/model.xml -o /io/model.blob \\
   -d MYRIAD -ip U8 -VPU_NUMBER_OF_SHAVES "$shaves" -VPU_NUMBER_OF_CMX_SLICES "$shaves"
"""


class MyriadError(EdgeloopError):
    """The compiler image could not be built, or the compilation failed."""


@dataclass(frozen=True)
class MyriadOutputs:
    """What one compilation wrote into its folder."""

    blob: Path
    xml: Path
    bin: Path


def _numbers(values: list[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def compile_args(bundle: Bundle, shaves: int = DEFAULT_SHAVES) -> list[str]:
    """``compile.sh``'s arguments for ``bundle``: input name, shape, mean, scale, SHAVEs.

    Raises:
        ConfigError: ``shaves`` outside 1..16.
        BundleError: the input name is not a plain tensor name.
    """
    if not 1 <= shaves <= 16:
        raise ConfigError(f"--shaves must be 1..16 (the Myriad X has 16 SHAVE cores), got {shaves}")
    spec = bundle.manifest.input
    if not SAFE_NAME.fullmatch(spec.name):
        raise BundleError(
            f"bundle.json input.name {spec.name!r} is not a plain tensor name: the Myriad X recipe "
            "passes it to OpenVINO's mo on a command line, so it takes letters, digits and _ . : / - "
            "only (not first -): rename the model's input and input.name to match"
        )
    h, w = spec.size_hw
    shape = [1, 3, h, w] if spec.layout == "NCHW" else [1, h, w, 3]
    mean, scale = pixel_normalization(spec)
    return [spec.name, ",".join(map(str, shape)), _numbers(mean), _numbers(scale), str(shaves)]


def write_recipe(bundle: Bundle, folder: Path, shaves: int = DEFAULT_SHAVES) -> list[str]:
    """Write the container recipe for ``bundle`` into ``folder`` (Dockerfile, compile.sh,
    model.onnx, run.sh, and recipe.json recording the arguments) so it can be built on any
    machine with Docker. Returns the compile arguments."""
    args = compile_args(bundle, shaves)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECIPE_FILE).write_text(json.dumps({"image": OPENVINO_IMAGE, "tag": IMAGE_TAG, "args": args}))
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "compile.sh").write_text(COMPILE_SCRIPT)
    shutil.copyfile(bundle.model_path("fp32"), folder / "model.onnx")
    user = '"$(id -u):$(id -g)"'
    shell_words = {user: user, "$PWD:/io": '"$PWD":/io'}  # expanded by the shell: ours, not the bundle's
    cmd = run_command("docker", Path("$PWD"), args, user)
    run = " ".join(shell_words.get(word) or shlex.quote(word) for word in cmd)
    (folder / "run.sh").write_text(
        "#!/bin/sh\n# Compile model.onnx here into model.blob (and ir/model.xml), offline.\nset -eu\n"
        f'cd "$(dirname "$0")"\ndocker image inspect {IMAGE_TAG} >/dev/null 2>&1 || '
        f"docker build -t {IMAGE_TAG} .\n{run}\n"
    )
    return args


def build_command(docker: str, context: Path) -> list[str]:
    """``docker build`` of the compiler image (once per machine; pulls the base image)."""
    return [docker, "build", "-t", IMAGE_TAG, str(context)]


def run_command(docker: str, io_dir: Path, args: list[str], user: str | None = None) -> list[str]:
    """``docker run`` of the compiler on ``io_dir`` (holding model.onnx), with no network; as
    ``user`` (``uid:gid``, so the files it writes are the caller's), with a writable HOME."""
    cmd = [docker, "run", "--rm", "--network", "none"]
    if user:
        cmd += ["--user", user, "-e", "HOME=/tmp"]
    return [*cmd, "-v", f"{io_dir}:/io", IMAGE_TAG, *args]


_INSTALL = "https://docs.docker.com/engine/install/"
_ELSEWHERE = (
    "write the recipe with `edgeloop optimize BUNDLE --target myriad --print-recipe --out DIR` "
    "and run DIR/run.sh on a machine with Docker"
)


def find_docker() -> str:
    """The ``docker`` client, with its daemon answering.

    Raises:
        ConfigError: no docker or no daemon here, saying what to install or start, and how to
            compile on another machine instead.
    """
    docker = shutil.which("docker")
    if docker is None:
        raise ConfigError(
            "--target myriad compiles in a Docker container (OpenVINO 2022.3 LTS, the last with the "
            f"Myriad X compiler) and docker is not installed here: install Docker Engine ({_INSTALL}), "
            f"or {_ELSEWHERE}"
        )
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        info = None
    if info is None or info.returncode != 0 or not info.stdout.strip():
        raise ConfigError(
            "--target myriad: docker is installed but its daemon is not reachable (start it: "
            f"sudo systemctl start docker, or add your user to the docker group), or {_ELSEWHERE}"
        )
    return docker


def compile_blob(bundle: Bundle, folder: Path, shaves: int = DEFAULT_SHAVES) -> MyriadOutputs:
    """Compile ``bundle``'s FP32 ONNX into ``folder``/model.blob (and the FP16 IR) with Docker.

    Raises:
        ConfigError: no docker here.
        MyriadError: the image build or the compilation failed (with the tool's last lines).
    """
    docker = find_docker()
    args = write_recipe(bundle, folder, shaves)
    have = subprocess.run([docker, "image", "inspect", IMAGE_TAG], capture_output=True, check=False)
    if have.returncode != 0:
        _run(build_command(docker, folder), "building the Myriad X compiler image")
    user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
    _run(run_command(docker, folder.resolve(), args, user), "compiling for Myriad X")
    outputs = MyriadOutputs(folder / "model.blob", folder / "ir" / "model.xml", folder / "ir" / "model.bin")
    missing = [p.name for p in (outputs.blob, outputs.xml, outputs.bin) if not p.is_file()]
    if missing:
        raise MyriadError(f"the Myriad X compiler finished without writing {', '.join(missing)}")
    return outputs


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise MyriadError(f"{what} failed (exit {result.returncode}): {tail}")


def recipe_outputs(bundle: Bundle, folder: Path, shaves: int = DEFAULT_SHAVES) -> MyriadOutputs:
    """What ``run.sh`` wrote into a recipe ``folder`` made by ``write_recipe`` for ``bundle``
    and ``shaves``.

    Raises:
        MyriadError: not a recipe folder for this bundle's model, preprocessing and SHAVEs,
            or one whose run.sh has not run (or failed).
    """
    if not (folder / RECIPE_FILE).is_file():
        raise MyriadError(f"{folder} is not a recipe folder (no {RECIPE_FILE}): see --print-recipe")
    try:
        recorded = json.loads((folder / RECIPE_FILE).read_text())
    except ValueError as exc:
        raise MyriadError(f"{folder / RECIPE_FILE} is not valid JSON: {exc}") from None
    model = folder / "model.onnx"
    if not model.is_file() or sha256_file(model) != sha256_file(bundle.model_path("fp32")):
        raise MyriadError(f"the recipe in {folder} was written for another model than this bundle's")
    args, want = recorded.get("args", []), compile_args(bundle, shaves)
    if args[:4] != want[:4]:
        raise MyriadError(f"the recipe in {folder} was written for another input or normalization")
    if args[4:] != want[4:]:
        raise MyriadError(
            f"the recipe in {folder} compiled for {' '.join(map(str, args[4:])) or 'unknown'} SHAVEs, "
            f"not --shaves {shaves}: pass the same --shaves as --print-recipe did"
        )
    outputs = MyriadOutputs(folder / "model.blob", folder / "ir" / "model.xml", folder / "ir" / "model.bin")
    files = (outputs.blob, outputs.xml, outputs.bin)
    missing = [p.relative_to(folder).as_posix() for p in files if not p.is_file()]
    if missing:
        raise MyriadError(f"{folder} has no {', '.join(missing)}: run its run.sh on a machine with Docker")
    return outputs


def myriad_files(
    bundle: Bundle, out: Path, shaves: int = DEFAULT_SHAVES, from_recipe: Path | None = None
) -> dict[str, tuple[str, ...]]:
    """Compile ``bundle`` (or take what a recipe folder's run.sh compiled elsewhere) and place
    the results in the bundle folder ``out``.

    Returns ``{variant file: extra files}``: the RVC2 NN Archive (for ``--backend depthai``)
    with, beside it for an NCS2 on OpenVINO 2022.3, the blob and the FP16 IR (taking the
    bundle's prepared tensor). They are extra files, not variants: no current backend runs
    them in place of the ONNX model.
    """
    work = out / ".myriad-build"
    try:
        if from_recipe is None:
            built = compile_blob(bundle, work, shaves)
        else:
            built = recipe_outputs(bundle, from_recipe, shaves)
        target = out / "myriad"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built.blob, out / BLOB_FILE)
        shutil.copyfile(built.xml, out / IR_FILE)
        shutil.copyfile(built.bin, out / IR_BIN_FILE)
        pack_nn_archive(bundle, out / BLOB_FILE, out / ARCHIVE_FILE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {ARCHIVE_FILE: (BLOB_FILE, IR_FILE, IR_BIN_FILE)}
