"""`dataset import`: archives of datasets come in; hostile archives are refused and leave nothing behind."""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from edgeloop.archive import ArchiveLimits, extract_archive
from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import synth_detection
from edgeloop.data.unpack import import_archive
from edgeloop.errors import ArchiveError, DatasetError
from tests.conftest import run_cli

BOMB_BYTES = 50 * 1024 * 1024


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "shapes"
    synth_detection(path, images=5, size=64, seed=1)
    return path


def _zip_tree(src: Path, archive: Path, prefix: str) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, f"{prefix}{p.relative_to(src).as_posix()}")
    return archive


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tgz", "tar.xz"])
def test_import_each_archive_kind(kind: str, shapes: Path, tmp_path: Path) -> None:
    archive = tmp_path / f"shapes.{kind}"
    if kind == "zip":
        _zip_tree(shapes, archive, "shapes/")  # wrapped in one folder, as most zips are
    else:
        mode = {"tar": "w", "tar.gz": "w:gz", "tgz": "w:gz", "tar.xz": "w:xz"}[kind]
        with tarfile.open(archive, mode) as tar:
            for p in sorted(shapes.rglob("*")):
                tar.add(p, p.relative_to(shapes).as_posix(), recursive=False)
    result = import_archive(archive, tmp_path / "out")
    assert (result.format, result.images, result.defects) == ("yolo", 5, 0)
    assert load_dataset(tmp_path / "out").same_as(load_dataset(shapes))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, "out"]), "no temporary left"


def _hostile_zip(path: Path, name: str, data: bytes = b"x", mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.yaml", "names: [a]\n")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _hostile_tar(path: Path, name: str, kind: str = "file", data: bytes = b"x", mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        yaml = b"names: [a]\n"
        info = tarfile.TarInfo("data.yaml")
        info.size = len(yaml)
        tar.addfile(info, io.BytesIO(yaml))
        info = tarfile.TarInfo(name)
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../etc/passwd"
            tar.addfile(info)
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


HOSTILE = {
    "zip traversal": (lambda p: _hostile_zip(p / "a.zip", "../x.txt"), "'..' would escape"),
    "zip deep traversal": (lambda p: _hostile_zip(p / "a.zip", "images/../../x.txt"), "'..' would escape"),
    "zip absolute": (lambda p: _hostile_zip(p / "a.zip", "/tmp/x.txt"), "absolute paths are not allowed"),
    "zip symlink": (
        lambda p: _hostile_zip(p / "a.zip", "images/x.png", b"../../etc/passwd", stat.S_IFLNK | 0o777),
        "links are not allowed",
    ),
    "zip fifo": (
        lambda p: _hostile_zip(p / "a.zip", "pipe", b"", stat.S_IFIFO | 0o644),
        "only files and folders",
    ),
    "zip bomb": (
        lambda p: _hostile_zip(p / "a.zip", "images/zeros.png", bytes(BOMB_BYTES)),
        "decompression bomb",
    ),
    "tar traversal": (lambda p: _hostile_tar(p / "a.tar", "../x.txt"), "'..' would escape"),
    "tar absolute": (lambda p: _hostile_tar(p / "a.tar", "/tmp/x.txt"), "absolute paths are not allowed"),
    "tar symlink": (lambda p: _hostile_tar(p / "a.tar", "images", "symlink"), "links are not allowed"),
    "tar hardlink": (lambda p: _hostile_tar(p / "a.tar", "x.png", "hardlink"), "links are not allowed"),
    "tar.gz bomb": (
        lambda p: _hostile_tar(p / "a.tar.gz", "images/zeros.png", data=bytes(BOMB_BYTES), mode="w:gz"),
        "decompression bomb",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_are_refused_and_leave_nothing(case: str, tmp_path: Path) -> None:
    make, message = HOSTILE[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = make(tmp_path)
    before = listing(tmp_path)
    with pytest.raises(ArchiveError, match=message):
        import_archive(archive, work / "out")
    assert listing(tmp_path) == before, "nothing may be written outside or inside the target"
    with pytest.raises(ArchiveError, match=message):
        import_archive(archive, work / "new" / "deeper" / "out")
    assert listing(tmp_path) == before, "folders made for the target are removed again"
    result = run_cli("dataset", "import", str(archive), str(work / "out"))
    assert result.returncode == 1 and "error:" in result.stderr and "Traceback" not in result.stderr
    assert listing(tmp_path) == before


def test_bomb_ratio_is_measured(tmp_path: Path) -> None:
    archive = _hostile_zip(tmp_path / "a.zip", "zeros.bin", bytes(BOMB_BYTES))
    assert BOMB_BYTES / archive.stat().st_size > 500, "the test bomb must really be a bomb"
    # With caps raised the same archive extracts: the refusal above came from the ratio cap.
    extract_archive(archive, tmp_path / "ok", ArchiveLimits(max_ratio=10_000))
    assert (tmp_path / "ok" / "zeros.bin").stat().st_size == BOMB_BYTES


def test_zip_whose_header_lies_about_size_is_refused(tmp_path: Path) -> None:
    archive = _hostile_zip(tmp_path / "a.zip", "images/big.bin", bytes(1 << 20))
    raw = bytearray(archive.read_bytes())
    # Declare 1000 bytes in the local and central headers of the second entry.
    local = raw.index(b"PK\x03\x04", 1)
    struct.pack_into("<I", raw, local + 22, 1000)
    central = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02") + 1)
    struct.pack_into("<I", raw, central + 24, 1000)
    archive.write_bytes(bytes(raw))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ArchiveError, match="not a readable zip"):
        import_archive(archive, work / "out")
    assert listing(work) == []


def test_archive_without_a_dataset_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "notes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("notes/readme.txt", "hello")
    with pytest.raises(DatasetError, match="holds no recognised dataset"):
        import_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.zip"]


def test_import_refuses_a_non_empty_target(shapes: Path, tmp_path: Path) -> None:
    archive = _zip_tree(shapes, tmp_path / "s.zip", "")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty: choose a new output folder"):
        import_archive(archive, tmp_path / "out")
    assert listing(tmp_path / "out") == ["keep.txt"]
