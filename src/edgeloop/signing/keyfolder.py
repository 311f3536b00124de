"""A key folder's private side: the active signer, and generating, rotating and revoking keys.

Layout of ``KEYS`` and the meaning of each status: see keys.py.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeloop.signing.errors import KeyringError
from edgeloop.signing.keys import KEYRING, PRIVATE_DIR, KeyInfo, Keyring, key_id_of, public_raw
from edgeloop.signing.storage import locked, write_atomic


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Signer:
    """The active private key of a key folder."""

    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self.private_key.sign(data)


def _read_ring(keys_dir: Path) -> Keyring:
    if (keys_dir / KEYRING).is_file():
        return Keyring.load(keys_dir / KEYRING)
    return Keyring((), keys_dir / KEYRING)


def _new_key(keys_dir: Path, note: str) -> KeyInfo:
    private = Ed25519PrivateKey.generate()
    raw = public_raw(private.public_key())
    info = KeyInfo(
        key_id=key_id_of(raw), public_key=base64.b64encode(raw).decode("ascii"), created=_now(), note=note
    )
    folder = keys_dir / PRIVATE_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(folder / f"{info.key_id}.pem", pem, mode=0o600)
    return info


def _save(ring: Keyring, keys_dir: Path) -> None:
    write_atomic(keys_dir / KEYRING, ring.to_json())


def generate_key(keys_dir: str | Path, note: str = "") -> KeyInfo:
    """Create the first signing key of ``keys_dir`` (or a new one after the active key was revoked).

    Raises:
        KeyringError: the folder already has an active key (rotate it instead).
    """
    keys_dir = Path(keys_dir)
    with locked(keys_dir):
        ring = _read_ring(keys_dir)
        current = ring.active()
        if current is not None:
            raise KeyringError(
                f"{keys_dir} already has active key {current.key_id}: "
                f"replace it with `edgeloop keys rotate --dir {keys_dir}`"
            )
        info = _new_key(keys_dir, note)
        _save(ring.replace(info), keys_dir)
    return info


def rotate_key(keys_dir: str | Path, note: str = "") -> KeyInfo:
    """Make a new active key; the old one becomes ``retired`` (what it signed still verifies).

    Raises:
        KeyringError: no active key to rotate (generate one).
    """
    keys_dir = Path(keys_dir)
    with locked(keys_dir):
        ring = _read_ring(keys_dir)
        current = ring.active()
        if current is None:
            raise KeyringError(
                f"{keys_dir} has no active key to rotate: "
                f"create one with `edgeloop keys generate --dir {keys_dir}`"
            )
        info = _new_key(keys_dir, note)
        ring = ring.replace(current.model_copy(update={"status": "retired"})).replace(info)
        _save(ring, keys_dir)
    return info


def revoke_key(keys_dir: str | Path, key_id: str, reason: str) -> KeyInfo:
    """Mark a key ``revoked``: nothing it signed verifies again, on any device that gets this key ring.

    ``key_id`` may be a unique prefix (4 hex digits or more). Revoking a revoked key changes nothing.

    Raises:
        KeyringError: no such key, an empty reason.
    """
    keys_dir = Path(keys_dir)
    if not reason.strip():
        raise KeyringError("say why the key is revoked (e.g. --reason 'laptop lost'); it is kept in the ring")
    with locked(keys_dir):
        ring = _read_ring(keys_dir)
        found = ring.match(key_id)
        if found.status == "revoked":
            return found  # already revoked: keep the first date and reason
        info = found.model_copy(update={"status": "revoked", "revoked_at": _now(), "reason": reason})
        _save(ring.replace(info), keys_dir)
    return info


def load_signer(keys_dir: str | Path) -> Signer:
    """The active private key of ``keys_dir``.

    Raises:
        KeyringError: no key ring, no active key, or its private key file missing or not matching.
    """
    keys_dir = Path(keys_dir)
    ring = Keyring.load(keys_dir / KEYRING)
    info = ring.active()
    if info is None:
        raise KeyringError(
            f"{keys_dir} has no active key (the last one was revoked): "
            f"create one with `edgeloop keys generate --dir {keys_dir}`"
        )
    path = keys_dir / PRIVATE_DIR / f"{info.key_id}.pem"
    if not path.is_file():
        raise KeyringError(
            f"{path}: private key of active key {info.key_id} is missing; restore it from a backup "
            f"or rotate: `edgeloop keys rotate --dir {keys_dir}`"
        )
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyringError(f"{path}: not an unencrypted PKCS8 PEM private key ({exc})") from None
    if (
        not isinstance(private, Ed25519PrivateKey)
        or key_id_of(public_raw(private.public_key())) != info.key_id
    ):
        raise KeyringError(f"{path}: this is not the private key of {info.key_id}; restore it from a backup")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        path.chmod(0o600)  # keep it private even after a careless copy
    return Signer(info.key_id, private)
