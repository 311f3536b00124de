"""Signed bundle tars for update-agent tests: good ones, and each way a bundle must be refused.

``make_kit(folder)`` builds once: a tiny colour-detector bundle (unsigned
template) and a key folder. From it, ``signed_tar`` writes a release with a
given counter and version; ``tampered_tar``, ``unsigned_tar``,
``unknown_key_tar``, ``revoked_key_tar`` (changes the kit's key ring: load the
ring after calling it), ``replayed_tar`` (a lower counter) and
``traversal_tar`` write the bad ones.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeloop.archive import create_tar
from edgeloop.bundle import pack, read_manifest, write_manifest
from edgeloop.importer import import_onnx
from edgeloop.signing import Keyring, generate_key, load_signer, revoke_key, rotate_key, sign_bundle
from edgeloop.signing.files import present_files
from edgeloop.testing.onnx_models import colour_detector


@dataclass(frozen=True)
class Kit:
    """An unsigned template bundle and the key folder that signs releases of it."""

    template: Path
    keys: Path

    @property
    def keyring_path(self) -> Path:
        return self.keys / "keyring.json"

    def ring(self) -> Keyring:
        return Keyring.load(self.keyring_path)

    def copy(self, folder: Path) -> Kit:
        """A private copy (bad-bundle helpers may change the key ring)."""
        folder.mkdir(parents=True, exist_ok=True)
        keys = shutil.copytree(self.keys, folder / "keys")
        return Kit(self.template, keys)


def make_kit(folder: Path) -> Kit:
    """A tiny bundle (64x64 colour detector) and a fresh key folder under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    model = colour_detector(folder / "colour.onnx", imgsz=(64, 64), stride=32)
    bundle = import_onnx(model, folder / "template")
    keys = folder / "keys"
    generate_key(keys, note="agent tests")
    return Kit(bundle.root, keys)


def _release(kit: Kit, version: str, work: Path) -> Path:
    root = work / "bundle"
    shutil.copytree(kit.template, root)
    manifest = read_manifest(root).model_copy(update={"version": version})
    write_manifest(root, manifest)
    return root


def _tar_folder(root: Path, out: Path) -> Path:
    """Pack every file as it is (no verification), as a careless or hostile sender would."""
    create_tar({name: root / name for name in present_files(root)}, out)
    return out


def signed_tar(
    kit: Kit, out: Path, counter: int, version: str | None = None, keys: Path | None = None
) -> Path:
    """A release signed by the kit's active key (or ``keys``) with ``counter``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _release(kit, version or str(counter), Path(tmp))
        sign_bundle(root, load_signer(keys or kit.keys), counter)
        return pack(root, out)


def signed_folder(kit: Kit, out: Path, counter: int, version: str | None = None) -> Path:
    """A signed release as a folder (for a watched folder that takes bundle folders)."""
    root = _release(kit, version or str(counter), out.parent / f".{out.name}.work")
    sign_bundle(root, load_signer(kit.keys), counter)
    root.rename(out)
    shutil.rmtree(out.parent / f".{out.name}.work", ignore_errors=True)
    return out


def tampered_tar(kit: Kit, out: Path, counter: int) -> Path:
    """Signed, then one byte of the model changed."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _release(kit, str(counter), Path(tmp))
        sign_bundle(root, load_signer(kit.keys), counter)
        model = root / read_manifest(root).variants[0].file
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0x01
        model.write_bytes(bytes(data))
        return _tar_folder(root, out)


def unsigned_tar(kit: Kit, out: Path, counter: int) -> Path:
    """A valid bundle with no bundle.sig."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _release(kit, str(counter), Path(tmp))
        return pack(root, out)


def unknown_key_tar(kit: Kit, out: Path, counter: int) -> Path:
    """Signed by a key the kit's key ring does not list."""
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other-keys"
        generate_key(other, note="not trusted")
        return signed_tar(kit, out, counter, keys=other)


def revoked_key_tar(kit: Kit, out: Path, counter: int) -> Path:
    """Signed by the kit's active key, which is then rotated out and revoked in the kit's key ring."""
    old = kit.ring().active()
    assert old is not None
    path = signed_tar(kit, out, counter)
    rotate_key(kit.keys, note="after a leak")
    revoke_key(kit.keys, old.key_id, "test: key leaked")
    return path


def replayed_tar(kit: Kit, out: Path, counter: int) -> Path:
    """A correctly signed release with an old counter (a device that runs a newer one must refuse it)."""
    return signed_tar(kit, out, counter)


def traversal_tar(out: Path) -> Path:
    """A tar whose member climbs out of the folder it is unpacked into."""
    with tarfile.open(out, "w") as tar:
        data = b"owned\n"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out
