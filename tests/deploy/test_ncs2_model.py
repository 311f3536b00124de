"""The NCS2 runs the bundle's ONNX model with OpenVINO 2022.3, never an IR variant (which a newer
OpenVINO wrote, maybe with operator versions 2022.3 cannot read)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeloop.backends.openvino import OpenVinoConfig
from edgeloop.bundle import Bundle, Variant, load_bundle, sha256_file, write_manifest
from edgeloop.deploy.docker import write_docker
from edgeloop.deploy.targets import get_target
from edgeloop.errors import BundleError, DeployError
from edgeloop.predictor import Predictor


def _with_ir(src: Path, dest: Path, keep_onnx: bool) -> Bundle:
    """A copy of ``src`` whose default variant is an FP32 IR (stand-in bytes), with or without
    its ONNX model."""
    shutil.copytree(src, dest)
    (dest / "model_fp32.xml").write_bytes(b"<net/>\n")
    (dest / "model_fp32.bin").write_bytes(b"\0" * 8)
    ir = Variant(
        file="model_fp32.xml",
        precision="fp32",
        backends=["openvino"],
        sha256=sha256_file(dest / "model_fp32.xml"),
        size_bytes=7,
        extra_files={"model_fp32.bin": sha256_file(dest / "model_fp32.bin")},
    )
    manifest = load_bundle(dest).manifest
    variants = [*manifest.variants, ir] if keep_onnx else [ir]
    write_manifest(dest, manifest.model_copy(update={"variants": variants, "default_variant": ir.file}))
    return load_bundle(dest)


def test_myriad_takes_the_onnx_model_over_an_ir(yolo_bundle: Bundle, tmp_path: Path) -> None:
    both = _with_ir(yolo_bundle.root, tmp_path / "both", keep_onnx=True)
    assert both.manifest.variant(None, "openvino").file == "model_fp32.xml"  # what CPU/GPU/NPU run
    assert both.manifest.onnx_variant().file == yolo_bundle.manifest.variants[0].file
    write_docker(both.root, get_target("ncs2"), tmp_path / "deploy")
    dockerfile = (tmp_path / "deploy" / "Dockerfile").read_text()
    assert f'LABEL io.edgeloop.model.sha256="{both.manifest.onnx_variant().sha256}"' in dockerfile


def test_ir_only_bundle_is_refused_for_the_stick(yolo_bundle: Bundle, tmp_path: Path) -> None:
    ir_only = _with_ir(yolo_bundle.root, tmp_path / "ir", keep_onnx=False)
    with pytest.raises(
        DeployError, match=r"target ncs2 runs the bundle's FP32 ONNX model with openvino==2022\.3"
    ):
        write_docker(ir_only.root, get_target("ncs2"), tmp_path / "deploy")
    assert not (tmp_path / "deploy").exists()
    # The predictor refuses it too, before OpenVINO is asked for the MYRIAD device.
    with pytest.raises(BundleError, match="has no fp32 ONNX model"):
        Predictor(ir_only, OpenVinoConfig(device="MYRIAD"))
