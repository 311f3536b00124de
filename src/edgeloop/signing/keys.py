"""Ed25519 keys: a private key per signer, a public key ring every device pins.

A key folder (``KEYS``) holds::

    keyring.json           every key: id, public key, status (active|retired|revoked), dates, reason
    private/<key_id>.pem   the private keys (PKCS8 PEM, mode 0600); copy none of these to devices
    counter                the last release counter issued (see counter.py)

A key's id is the first 16 hex digits of the sha256 of its raw 32-byte public key.
At most one key is ``active`` (it signs); ``retired`` keys still verify what they
signed before a rotation; ``revoked`` keys never verify again. This module
reads and checks key rings (all a device needs); keyfolder.py writes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.signing.errors import KeyringError
from edgeloop.validation import format_validation_error

KEYRING = "keyring.json"
PRIVATE_DIR = "private"
KEYRING_FORMAT = 1
Status = Literal["active", "retired", "revoked"]


class KeyInfo(BaseModel):
    """One key as the key ring lists it (public part and status only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    public_key: str = Field(description="raw 32-byte Ed25519 public key, base64")
    status: Status = "active"
    created: str
    revoked_at: str | None = None
    reason: str | None = None
    note: str = ""


class _KeyringFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = KEYRING_FORMAT
    keys: list[KeyInfo] = Field(default_factory=list)


def key_id_of(public_raw: bytes) -> str:
    """The id of a raw 32-byte public key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Keyring:
    """The public keys a verifier trusts, with their status. A device pins a copy of ``keyring.json``."""

    keys: tuple[KeyInfo, ...]
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        """Read ``keyring.json`` (or the one inside a key folder) and check every entry.

        Raises:
            KeyringError: missing or malformed file, a key id that does not match its key,
                two keys with one id, or more than one active key.
        """
        path = Path(path)
        if path.is_dir():
            path = path / KEYRING
        if not path.is_file():
            raise KeyringError(
                f"{path}: no key ring; create keys with `edgeloop keys generate --dir KEYS` "
                f"and pass KEYS/{KEYRING}"
            )
        try:
            parsed = _KeyringFile.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise KeyringError(format_validation_error(exc, "key", prefix=str(path))) from None
        if parsed.format > KEYRING_FORMAT:
            raise KeyringError(f"{path}: key ring format {parsed.format} is newer than this edgeloop reads")
        ring = cls(tuple(parsed.keys), path)
        ring._check()
        return ring

    def _check(self) -> None:
        seen: set[str] = set()
        for info in self.keys:
            raw = _decode_public(info, self.path)
            if key_id_of(raw) != info.key_id:
                raise KeyringError(
                    f"{self.path}: key '{info.key_id}' does not match its public key "
                    f"(that key's id is {key_id_of(raw)}): the key ring was edited; restore it from KEYS"
                )
            if info.key_id in seen:
                raise KeyringError(f"{self.path}: key '{info.key_id}' is listed twice; keep one entry")
            seen.add(info.key_id)
        if sum(info.status == "active" for info in self.keys) > 1:
            raise KeyringError(f"{self.path}: more than one active key; retire all but one")

    def find(self, key_id: str) -> KeyInfo | None:
        """The key with exactly this id, or None."""
        return next((info for info in self.keys if info.key_id == key_id), None)

    def match(self, prefix: str) -> KeyInfo:
        """The one key whose id starts with ``prefix`` (at least 4 hex digits)."""
        known = ", ".join(info.key_id for info in self.keys) or "none"
        if len(prefix) < 4:
            raise KeyringError(f"key id '{prefix}' is too short: give 4 or more of its digits ({known})")
        hits = [info for info in self.keys if info.key_id.startswith(prefix)]
        if len(hits) != 1:
            what = "matches more than one key" if hits else "matches no key"
            raise KeyringError(f"key id '{prefix}' {what} (keys: {known}); give more of the id")
        return hits[0]

    def active(self) -> KeyInfo | None:
        """The key that signs new bundles, if any."""
        return next((info for info in self.keys if info.status == "active"), None)

    def public_key(self, info: KeyInfo) -> Ed25519PublicKey:
        """The Ed25519 public key of an entry."""
        return Ed25519PublicKey.from_public_bytes(_decode_public(info, self.path))

    def to_json(self) -> bytes:
        """The key ring as ``keyring.json`` holds it."""
        body = _KeyringFile(keys=list(self.keys)).model_dump(mode="json")
        return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def replace(self, info: KeyInfo) -> Keyring:
        """A copy with ``info`` replacing the entry of the same id, or appended."""
        keys = [info if k.key_id == info.key_id else k for k in self.keys]
        if self.find(info.key_id) is None:
            keys.append(info)
        return Keyring(tuple(keys), self.path)


def _decode_public(info: KeyInfo, where: Path | None) -> bytes:
    try:
        raw = base64.b64decode(info.public_key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32 or base64.b64encode(raw).decode("ascii") != info.public_key:
        raise KeyringError(
            f"{where}: key '{info.key_id}': public_key is not a base64 32-byte Ed25519 key; "
            "restore the key ring from KEYS"
        )
    return raw
