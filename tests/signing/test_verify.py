"""verify_bundle accepts exactly the signed bytes and refuses every kind of bad bundle with one clear line."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from edgeloop.bundle import load_bundle, pack, read_manifest, unpack, write_manifest
from edgeloop.errors import BundleError
from edgeloop.signing import (
    BadSignature,
    Replayed,
    RevokedKey,
    SignatureFile,
    Tampered,
    UnknownKey,
    Unsigned,
    generate_key,
    load_signer,
    next_counter,
    revoke_key,
    sign_bundle,
    verify_bundle,
)
from edgeloop.signing.storage import canonical_json
from tests.blocked import run_without
from tests.signing.conftest import Signed


def test_a_signed_bundle_verifies_and_still_loads(signed: Signed) -> None:
    manifest = verify_bundle(signed.root, signed.ring())
    assert manifest.counter == 1 and manifest.names == ["red", "grün", "青"]
    sig = (signed.root / "bundle.sig").read_bytes()
    body = json.loads(sig)
    assert sig == canonical_json(body) + b"\n" and body["alg"] == "ed25519"
    assert body["key_id"] == signed.ring().keys[0].key_id and len(base64.b64decode(body["signature"])) == 64
    assert load_bundle(signed.root).manifest.counter == 1  # plain loading is unchanged


def test_unsigned_bundle_is_refused(signed: Signed) -> None:
    (signed.root / "bundle.sig").unlink()
    with pytest.raises(Unsigned, match=r"not signed \(no bundle.sig\); sign it with `edgeloop bundle sign"):
        verify_bundle(signed.root, signed.ring())


def test_unknown_key_is_refused(signed: Signed, tmp_path: Path) -> None:
    generate_key(tmp_path / "other")
    other = signed.ring().load(tmp_path / "other" / "keyring.json")
    with pytest.raises(UnknownKey, match="does not list; re-sign with a key the device trusts"):
        verify_bundle(signed.root, other)


def test_revoked_key_is_refused(signed: Signed) -> None:
    key_id = signed.ring().keys[0].key_id
    revoke_key(signed.keys, key_id, "laptop lost")
    with pytest.raises(RevokedKey, match=rf"signed by key {key_id}, revoked .* \(laptop lost\); re-sign"):
        verify_bundle(signed.root, signed.ring())


def test_older_counter_is_refused_and_a_resigned_rollback_passes(signed: Signed) -> None:
    ring = signed.ring()
    assert verify_bundle(signed.root, ring, min_counter=1).counter == 1
    with pytest.raises(Replayed, match="release counter 1 is older than 2 .* re-sign the old bundle"):
        verify_bundle(signed.root, ring, min_counter=2)
    sign_bundle(signed.root, load_signer(signed.keys), next_counter(signed.keys))  # the rollback
    assert verify_bundle(signed.root, ring, min_counter=2).counter == 2


def test_signature_without_counter_is_refused(signed: Signed) -> None:
    manifest = read_manifest(signed.root).model_copy(update={"counter": None})
    write_manifest(signed.root, manifest)
    signer = load_signer(signed.keys)
    body = json.loads((signed.root / "bundle.json").read_bytes())
    sig = SignatureFile(signer.key_id, signer.sign(canonical_json(body)))
    (signed.root / "bundle.sig").write_bytes(sig.to_bytes())
    with pytest.raises(Unsigned, match="signed without a release counter"):
        verify_bundle(signed.root, signed.ring())


def test_unlisted_file_is_refused_and_cannot_be_signed(signed: Signed) -> None:
    (signed.root / "samples" / "notes.txt").write_text("hello")
    with pytest.raises(Tampered, match=r"samples/notes.txt: not listed in the signed bundle.json"):
        verify_bundle(signed.root, signed.ring())
    with pytest.raises(Tampered, match=r"samples/notes.txt not listed in bundle.json; .* remove them"):
        sign_bundle(signed.root, load_signer(signed.keys), 5)


def test_links_are_refused(signed: Signed) -> None:
    os.symlink("model.onnx", signed.root / "alias.onnx")
    with pytest.raises(Tampered, match="links and special files may not be in a signed bundle"):
        verify_bundle(signed.root, signed.ring())


def test_missing_or_resized_file_is_refused(signed: Signed) -> None:
    weights = signed.root / "openvino" / "model.bin"
    data = weights.read_bytes()
    weights.write_bytes(data + b"\0")
    with pytest.raises(Tampered, match="model.bin: sha256 .* differs from bundle.json"):
        verify_bundle(signed.root, signed.ring())
    weights.write_bytes(data)
    model = signed.root / "model.onnx"
    model_bytes = model.read_bytes()
    model.write_bytes(model_bytes[:-1])
    with pytest.raises(Tampered, match=r"model.onnx: \d+ bytes, bundle.json says \d+"):
        verify_bundle(signed.root, signed.ring())
    model.write_bytes(model_bytes)
    (signed.root / "samples" / "scene.png").unlink()
    with pytest.raises(Tampered, match="scene.png: listed in bundle.json but missing"):
        verify_bundle(signed.root, signed.ring())


def test_manifest_with_same_content_but_other_bytes_is_refused(signed: Signed) -> None:
    path = signed.root / "bundle.json"
    text = path.read_text(encoding="utf-8")
    assert '"grün"' in text
    path.write_text(text.replace('"grün"', '"gr\\u00fcn"'), encoding="utf-8")  # same JSON value
    assert json.loads(path.read_bytes()) == json.loads(text)
    with pytest.raises(Tampered, match="not byte-for-byte the manifest edgeloop writes"):
        verify_bundle(signed.root, signed.ring())


def test_changed_manifest_breaks_the_signature(signed: Signed) -> None:
    path = signed.root / "bundle.json"
    path.write_text(path.read_text().replace('"conf": 0.25', '"conf": 0.05'))
    with pytest.raises(BadSignature, match="does not match bundle.json"):
        verify_bundle(signed.root, signed.ring())


def _edit_sig(root: Path, **changes: object) -> None:
    body = json.loads((root / "bundle.sig").read_bytes())
    body.update(changes)
    (root / "bundle.sig").write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({}, "not in canonical form"),  # json.dumps' default spacing
        ({"alg": "ed448"}, "alg 'ed448' is not 'ed25519'"),
        ({"comment": "x"}, "expected exactly the keys"),
        ({"signature": "not base64!"}, "signature is not base64"),
        ({"signature": base64.b64encode(b"x" * 63).decode()}, "not in canonical form"),
    ],
)
def test_malformed_signature_file_is_refused(signed: Signed, change: dict[str, object], why: str) -> None:
    _edit_sig(signed.root, **change)
    with pytest.raises(BadSignature, match=why):
        verify_bundle(signed.root, signed.ring())


def test_oversized_signature_file_is_refused_unread(signed: Signed) -> None:
    (signed.root / "bundle.sig").write_bytes(b" " * 5000)
    with pytest.raises(BadSignature, match="5000 bytes, far more than a signature needs"):
        verify_bundle(signed.root, signed.ring())


def test_base64_with_other_unused_bits_is_refused(signed: Signed) -> None:
    path = signed.root / "bundle.sig"
    body = json.loads(path.read_bytes())
    text = body["signature"]
    assert text.endswith("==")  # 64 bytes: the last symbol carries 2 bits of data and 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(text[-3]) ^ 1]
    other = text[:-3] + last + "=="
    assert other != text and base64.b64decode(other) == base64.b64decode(text)
    path.write_bytes(canonical_json({**body, "signature": other}) + b"\n")
    with pytest.raises(BadSignature, match="not in canonical form"):
        verify_bundle(signed.root, signed.ring())


def test_signing_refuses_a_bundle_whose_files_changed(signed: Signed) -> None:
    model = signed.root / "model.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 1
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.onnx"):
        sign_bundle(signed.root, load_signer(signed.keys), 9)


def test_pack_and_unpack_keep_the_signature(signed: Signed, tmp_path: Path) -> None:
    archive = pack(signed.root, tmp_path / "b.tar")
    with tarfile.open(archive) as tar:
        assert "bundle.sig" in tar.getnames()
    dest = unpack(archive, tmp_path / "out").root
    assert verify_bundle(dest, signed.ring()).counter == 1
    assert (dest / "bundle.sig").read_bytes() == (signed.root / "bundle.sig").read_bytes()


def test_signed_copy_made_with_copytree_verifies(signed: Signed, tmp_path: Path) -> None:
    copy = shutil.copytree(signed.root, tmp_path / "copy")
    assert verify_bundle(copy, signed.ring()).counter == 1


def test_verification_runs_without_opencv_or_torch(signed: Signed) -> None:
    code = f"""
from edgeloop.signing import Keyring, verify_bundle
print(verify_bundle({str(signed.root)!r}, Keyring.load({str(signed.keyring_path)!r})).counter)
assert "cv2" not in sys.modules and "torch" not in sys.modules
"""
    result = run_without(("cv2", "torch"), code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
