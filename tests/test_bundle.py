import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle, load_bundle, pack, unpack
from edgeloop.errors import ArchiveError, BundleError


@pytest.fixture()
def bundle_copy(yolo_bundle: Bundle, tmp_path: Path) -> Path:
    dest = tmp_path / "b"
    shutil.copytree(yolo_bundle.root, dest)
    return dest


def edit_manifest(root: Path, **changes: object) -> None:
    path = root / "bundle.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_load_verifies_and_describes(yolo_bundle: Bundle) -> None:
    m = load_bundle(yolo_bundle.root).manifest
    assert m.task == "detect" and m.family == "yolo" and m.names == ["red", "green", "blue"]
    assert m.variant().precision == "fp32"
    assert yolo_bundle.model_path().name == "model.onnx"


def test_sha256_mismatch_names_the_file(bundle_copy: Path) -> None:
    with open(bundle_copy / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match=r"model.onnx: sha256 mismatch"):
        load_bundle(bundle_copy)


def test_missing_file(bundle_copy: Path) -> None:
    (bundle_copy / "model.onnx").unlink()
    with pytest.raises(BundleError, match="listed in bundle.json but missing"):
        load_bundle(bundle_copy)


def test_bad_field_is_named(bundle_copy: Path) -> None:
    edit_manifest(bundle_copy, family="yolo9000")
    with pytest.raises(BundleError, match=r"key 'family': .*unknown output family 'yolo9000'"):
        load_bundle(bundle_copy)


def test_nested_bad_field_is_named(bundle_copy: Path) -> None:
    data = json.loads((bundle_copy / "bundle.json").read_text())
    data["input"]["layout"] = "CHW"
    (bundle_copy / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"key 'input.layout': 'CHW' is not one of NCHW, NHWC") as caught:
        load_bundle(bundle_copy)
    assert "\n" not in str(caught.value) and "pydantic" not in str(caught.value)


def test_variant_paths_cannot_escape(bundle_copy: Path) -> None:
    data = json.loads((bundle_copy / "bundle.json").read_text())
    data["variants"][0]["file"] = "../outside.onnx"
    (bundle_copy / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"key 'variants\[0\].file'.*escape"):
        load_bundle(bundle_copy)


def test_symlinked_model_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.onnx"
    shutil.move(bundle_copy / "model.onnx", real)
    (bundle_copy / "model.onnx").symlink_to(real)
    with pytest.raises(BundleError, match="links are not allowed"):
        load_bundle(bundle_copy)


def test_not_json_and_not_a_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    (bundle_copy / "bundle.json").write_text("{nope")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_copy)
    with pytest.raises(BundleError, match="not a bundle"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="no such bundle"):
        load_bundle(tmp_path / "nothing")


def test_newer_format_asks_to_upgrade(bundle_copy: Path) -> None:
    edit_manifest(bundle_copy, format_version=99)
    with pytest.raises(BundleError, match="upgrade edgeloop"):
        load_bundle(bundle_copy)


def test_pack_unpack_round_trip(yolo_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack(yolo_bundle.root, tmp_path / "b.tar")
    again = pack(yolo_bundle.root, tmp_path / "b2.tar")
    assert archive.read_bytes() == again.read_bytes(), "packing must be reproducible"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["bundle.json", "model.onnx"]
    restored = unpack(archive, tmp_path / "out")
    assert restored.manifest == yolo_bundle.manifest
    assert load_bundle(archive).manifest.name == yolo_bundle.manifest.name  # load a .tar directly


def test_unpack_refuses_non_empty_target(yolo_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack(yolo_bundle.root, tmp_path / "b.tar")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        unpack(archive, tmp_path / "full")


def hostile_tar(path: Path, name: str, kind: str = "file", size: int = 4) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "bundle.json"
            tar.addfile(info)
        elif kind == "fifo":
            info.type = tarfile.FIFOTYPE
            tar.addfile(info)
        else:
            info.size = size
            tar.addfile(info, io.BytesIO(b"x" * size))
    return path


@pytest.mark.parametrize(
    "name,kind,message",
    [
        ("../evil.txt", "file", "'..' would escape"),
        ("a/../../evil.txt", "file", "'..' would escape"),
        ("/etc/evil.txt", "file", "absolute paths"),
        ("link", "symlink", "links are not allowed"),
        ("hard", "hardlink", "links are not allowed"),
        ("pipe", "fifo", "only files and folders"),
    ],
)
def test_unpack_refuses_unsafe_members(tmp_path: Path, name: str, kind: str, message: str) -> None:
    archive = hostile_tar(tmp_path / "evil.tar", name, kind)
    with pytest.raises(ArchiveError, match=message):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unpack_refuses_oversize_members(tmp_path: Path) -> None:
    from edgeloop.archive import ArchiveLimits

    archive = hostile_tar(tmp_path / "big.tar", "model.onnx", size=2000)
    with pytest.raises(ArchiveError, match="above the 1000 byte cap"):
        unpack(archive, tmp_path / "out", ArchiveLimits(max_member_bytes=1000))
    with pytest.raises(ArchiveError, match="expands to"):
        unpack(archive, tmp_path / "out2", ArchiveLimits(max_total_bytes=1000))


def test_not_a_tar(tmp_path: Path) -> None:
    bad = tmp_path / "junk.tar"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ArchiveError, match="not a readable tar"):
        unpack(bad, tmp_path / "out")


def test_variant_is_chosen_per_backend(yolo_bundle: Bundle) -> None:
    m = yolo_bundle.manifest
    base = m.variants[0]
    int8 = base.model_copy(update={"file": "model.int8.onnx", "precision": "int8"})
    ir = base.model_copy(update={"file": "ov/model.xml", "backends": ["openvino"]})
    ir8 = base.model_copy(update={"file": "ov/model.int8.xml", "precision": "int8", "backends": ["openvino"]})
    m = m.model_copy(update={"variants": [base, int8, ir, ir8], "default_variant": "model.int8.onnx"})
    assert m.variant().file == "model.int8.onnx"
    assert m.variant(backend="onnxruntime").file == "model.int8.onnx"
    assert m.variant(backend="openvino").file == "ov/model.int8.xml"  # same precision as the default
    assert m.variant("fp32", backend="openvino").file == "ov/model.xml"
    assert m.variant("fp32", backend="onnxruntime").file == "model.onnx"
    assert m.variant("fp32", backend="tensorrt").file == "model.onnx"  # no own variant: the ONNX one
    with pytest.raises(BundleError, match="no fp16 variant"):
        m.variant("fp16")


def test_a_backend_reading_onnx_keeps_the_default_precision(yolo_bundle: Bundle) -> None:
    """An INT8 default plus an FP32 IR from a second optimize pass: openvino runs the INT8 ONNX
    (it reads ONNX); only backends that cannot read ONNX fall back to their own variant."""
    m = yolo_bundle.manifest
    base = m.variants[0]
    int8 = base.model_copy(update={"file": "model.int8.onnx", "precision": "int8"})
    ir = base.model_copy(update={"file": "ov/model.xml", "backends": ["openvino"]})
    own = {
        name: base.model_copy(update={"file": file, "precision": precision, "backends": [name]})
        for name, file, precision in (
            ("ncnn", "ncnn/model.ncnn.param", "fp32"),
            ("litert", "model.tflite", "fp16"),
            ("depthai", "model.tar.xz", "fp16"),
        )
    }
    variants = [base, int8, ir, *own.values()]
    m = m.model_copy(update={"variants": variants, "default_variant": "model.int8.onnx"})
    assert m.variant(backend="openvino").file == "model.int8.onnx"
    assert m.variant(backend="tensorrt").file == "model.int8.onnx"
    assert m.variant("fp32", backend="openvino").file == "ov/model.xml"
    for name, variant in own.items():
        assert m.variant(backend=name).file == variant.file


def test_extra_files_stay_inside_the_bundle(bundle_copy: Path) -> None:
    data = json.loads((bundle_copy / "bundle.json").read_text())
    data["variants"][0]["extra_files"] = {"../weights.bin": "0" * 64}
    (bundle_copy / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"extra_files"):
        load_bundle(bundle_copy)
    data["variants"][0]["extra_files"] = {"weights.bin": "0" * 64}
    (bundle_copy / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="weights.bin: listed in bundle.json but missing"):
        load_bundle(bundle_copy)
