"""Key folders: generation, rotation, revocation, key ring checks and the release counter."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.signing import (
    Keyring,
    KeyringError,
    RevokedKey,
    advance_counter,
    current_counter,
    generate_key,
    load_signer,
    next_counter,
    revoke_key,
    rotate_key,
    sign_bundle,
    verify_bundle,
)
from tests.signing.conftest import Signed


def test_generate_writes_a_private_pem_and_the_key_ring(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    info = generate_key(keys, note="build server")
    raw = base64.b64decode(info.public_key)
    assert len(raw) == 32 and info.key_id == hashlib.sha256(raw).hexdigest()[:16]
    pem = keys / "private" / f"{info.key_id}.pem"
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "private").stat().st_mode) == 0o700
    ring = json.loads((keys / "keyring.json").read_text())
    assert ring["keys"] == [
        {
            "key_id": info.key_id,
            "public_key": info.public_key,
            "status": "active",
            "created": info.created,
            "revoked_at": None,
            "reason": None,
            "note": "build server",
        }
    ]
    assert not list(keys.glob("*.partial")) and not list((keys / "private").glob("*.partial"))
    assert load_signer(keys).key_id == info.key_id
    with pytest.raises(
        KeyringError, match="already has active key .*: replace it with `edgeloop keys rotate"
    ):
        generate_key(keys)


def test_rotation_keeps_old_signatures_until_the_old_key_is_revoked(signed: Signed, tmp_path: Path) -> None:
    old = load_signer(signed.keys).key_id
    new = rotate_key(signed.keys)
    statuses = {k.key_id: k.status for k in signed.ring().keys}
    assert statuses == {old: "retired", new.key_id: "active"}
    assert verify_bundle(signed.root, signed.ring()).counter == 1  # signed by the retired key: still fine

    fresh = tmp_path / "fresh"
    shutil.copytree(signed.root, fresh)
    assert load_signer(signed.keys).key_id == new.key_id
    sign_bundle(fresh, load_signer(signed.keys), next_counter(signed.keys))
    assert json.loads((fresh / "bundle.sig").read_bytes())["key_id"] == new.key_id

    revoke_key(signed.keys, old[:6], "rotated out")
    ring = signed.ring()
    with pytest.raises(RevokedKey, match=rf"{old}, revoked .* \(rotated out\)"):
        verify_bundle(signed.root, ring)
    assert verify_bundle(fresh, ring).counter == 2


def test_revoking_the_active_key_leaves_none_until_a_new_one_is_generated(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = generate_key(keys)
    with pytest.raises(KeyringError, match="say why the key is revoked"):
        revoke_key(keys, first.key_id, "  ")
    revoked = revoke_key(keys, first.key_id, "compromised")
    assert revoked.status == "revoked" and revoked.reason == "compromised" and revoked.revoked_at
    assert revoke_key(keys, first.key_id, "again") == revoked  # idempotent: the first reason stays
    with pytest.raises(KeyringError, match="no active key .*`edgeloop keys generate --dir"):
        load_signer(keys)
    with pytest.raises(KeyringError, match="no active key to rotate"):
        rotate_key(keys)
    second = generate_key(keys)
    assert load_signer(keys).key_id == second.key_id
    assert [k.status for k in Keyring.load(keys).keys] == ["revoked", "active"]


def test_revoke_needs_a_known_unique_id(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    generate_key(keys)
    with pytest.raises(KeyringError, match="'ffff0000' matches no key"):
        revoke_key(keys, "ffff0000", "x")
    with pytest.raises(KeyringError, match="'ab' is too short: give 4 or more of its digits"):
        revoke_key(keys, "ab", "too short a prefix")


def _edit_ring(path: Path, index: int, **changes: object) -> None:
    data = json.loads(path.read_text())
    data["keys"][index].update(changes)
    path.write_text(json.dumps(data))


def test_a_key_ring_edited_by_hand_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    generate_key(keys)
    other = generate_key(tmp_path / "other")
    ring = keys / "keyring.json"
    good = ring.read_bytes()
    _edit_ring(ring, 0, public_key=other.public_key)
    with pytest.raises(KeyringError, match="does not match its public key"):
        Keyring.load(ring)
    ring.write_bytes(good)
    _edit_ring(ring, 0, public_key="AAAA")
    with pytest.raises(KeyringError, match="not a base64 32-byte Ed25519 key"):
        Keyring.load(ring)
    ring.write_bytes(good)
    _edit_ring(ring, 0, status="trusted")
    with pytest.raises(KeyringError, match="status"):
        Keyring.load(ring)
    with pytest.raises(KeyringError, match="no key ring; create keys with `edgeloop keys generate"):
        Keyring.load(tmp_path / "nowhere.json")


def test_a_private_key_that_is_not_the_active_one_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    info = generate_key(keys)
    other = generate_key(tmp_path / "other")
    pem = keys / "private" / f"{info.key_id}.pem"
    pem.write_bytes((tmp_path / "other" / "private" / f"{other.key_id}.pem").read_bytes())
    with pytest.raises(KeyringError, match=f"not the private key of {info.key_id}"):
        load_signer(keys)
    pem.unlink()
    with pytest.raises(KeyringError, match="private key of active key .* is missing"):
        load_signer(keys)


def test_counter_grows_and_persists(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert current_counter(keys) == 0
    assert [next_counter(keys) for _ in range(3)] == [1, 2, 3]
    assert (keys / "counter").read_text() == "3\n" and current_counter(keys) == 3
    assert advance_counter(keys, 10) == 10 and next_counter(keys) == 11
    assert advance_counter(keys, 5) == 11  # never goes back
    (keys / "counter").write_text("eleven")
    with pytest.raises(KeyringError, match="not a counter"):
        next_counter(keys)


_TAKE = (
    "import sys; from edgeloop.signing.counter import next_counter; "
    "print(*[next_counter(sys.argv[1]) for _ in range(25)])"
)


def test_counter_is_unique_across_processes(tmp_path: Path) -> None:
    keys = str(tmp_path / "keys")
    procs = [
        subprocess.Popen([sys.executable, "-c", _TAKE, keys], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    taken = [int(v) for proc in procs for v in proc.communicate(timeout=60)[0].split()]
    assert sorted(taken) == list(range(1, 101))
