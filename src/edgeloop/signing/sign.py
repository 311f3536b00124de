"""Sign a bundle folder and verify it against a pinned key ring.

``bundle.sig`` holds one line of canonical JSON,
``{"alg":"ed25519","key_id":"<16 hex>","signature":"<base64>"}``, where the
signature is over the canonical JSON (sorted keys, no insignificant
whitespace, UTF-8) of ``bundle.json``. Verification accepts only exact bytes:
``bundle.sig`` must be exactly what :func:`sign_bundle` writes for its
content (so no flipped bit can hide in whitespace, an escape or base64's
unused bits), ``bundle.json`` exactly what ``write_manifest`` writes for its
content, and every other file must be listed in it with a matching sha256.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError

from edgeloop.bundle import MANIFEST, SIGNATURE, Manifest, manifest_text, read_manifest, write_manifest
from edgeloop.signing.errors import BadSignature, Replayed, RevokedKey, Tampered, UnknownKey, Unsigned
from edgeloop.signing.files import check_files, unlisted
from edgeloop.signing.keyfolder import Signer
from edgeloop.signing.keys import Keyring
from edgeloop.signing.storage import canonical_json, write_atomic

ALG = "ed25519"
_SIG_KEYS = {"alg", "key_id", "signature"}
_MAX_SIG_BYTES = 4096  # a real one is about 150 bytes; never read a huge file into memory


@dataclass(frozen=True)
class SignatureFile:
    """The parsed contents of ``bundle.sig``."""

    key_id: str
    signature: bytes
    alg: str = ALG

    def to_bytes(self) -> bytes:
        """The exact bytes of ``bundle.sig``: canonical JSON and a newline."""
        body = {
            "alg": self.alg,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }
        return canonical_json(body) + b"\n"


def _malformed(root: Path, why: str) -> BadSignature:
    return BadSignature(
        f"{root / SIGNATURE}: {why}; the signature file is corrupt: re-copy the bundle or re-sign it "
        "with `edgeloop bundle sign BUNDLE --keys KEYS`"
    )


def read_signature(root: Path) -> SignatureFile:
    """Parse ``bundle.sig``, accepting only the exact bytes ``sign_bundle`` writes.

    Raises:
        Unsigned: no ``bundle.sig``.
        BadSignature: anything but canonical JSON with exactly alg, key_id and a 64-byte base64 signature.
    """
    path = root / SIGNATURE
    if not path.is_file():
        raise Unsigned(
            f"{root}: bundle is not signed (no {SIGNATURE}); "
            "sign it with `edgeloop bundle sign BUNDLE --keys KEYS`"
        )
    if path.stat().st_size > _MAX_SIG_BYTES:
        raise _malformed(root, f"{path.stat().st_size} bytes, far more than a signature needs")
    raw = path.read_bytes()
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _malformed(root, "not valid UTF-8 JSON") from None
    if not isinstance(body, dict) or set(body) != _SIG_KEYS:
        raise _malformed(root, f"expected exactly the keys {sorted(_SIG_KEYS)}")
    if body["alg"] != ALG:
        raise _malformed(root, f"alg {body['alg']!r} is not {ALG!r}")
    if not isinstance(body["key_id"], str) or not isinstance(body["signature"], str):
        raise _malformed(root, "key_id and signature must be strings")
    try:
        signature = base64.b64decode(body["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(root, "signature is not base64") from None
    parsed = SignatureFile(body["key_id"], signature)
    if len(signature) != 64 or parsed.to_bytes() != raw:
        raise _malformed(root, "not in canonical form (exact JSON, base64 of a 64-byte signature)")
    return parsed


def _manifest_body(root: Path) -> tuple[bytes, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise Tampered(f"{path}: missing from a signed bundle; re-copy the bundle")
    raw = path.read_bytes()
    try:
        return raw, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Tampered(
            f"{path}: not valid UTF-8 JSON: the manifest was corrupted; re-copy the bundle"
        ) from None


def check_signable(root: str | Path) -> Manifest:
    """The manifest of a bundle that can be signed as it is: valid, every listed file intact, none unlisted.

    Raises:
        BundleError: invalid manifest or a listed file missing or changed.
        Tampered: a file in the folder that the manifest does not list.
    """
    root = Path(root)
    manifest = read_manifest(root)
    extra = unlisted(root, manifest)
    if extra:
        raise Tampered(
            f"{root}: {', '.join(extra[:5])} not listed in {MANIFEST}; a signed bundle holds only listed "
            "files: remove them (or add them as samples or variant extra files) and sign again"
        )
    check_files(root, manifest)
    return manifest


def sign_bundle(root: str | Path, signer: Signer, counter: int) -> None:
    """Set the manifest's release counter, rewrite ``bundle.json`` and write ``bundle.sig``.

    The bundle is checked first (:func:`check_signable`).

    Raises:
        BundleError: invalid manifest or a listed file missing or changed.
        Tampered: a file in the folder that the manifest does not list.
    """
    root = Path(root)
    if counter < 0:
        raise ValueError("counter must be >= 0")
    manifest = check_signable(root).model_copy(update={"counter": counter})
    write_manifest(root, manifest)
    _, body = _manifest_body(root)
    sig = SignatureFile(signer.key_id, signer.sign(canonical_json(body)))
    write_atomic(root / SIGNATURE, sig.to_bytes())


def verify_bundle(root: str | Path, keyring: Keyring, min_counter: int | None = None) -> Manifest:
    """Check a bundle folder's signature, key, manifest bytes, files and counter; return its manifest.

    Raises:
        Unsigned, UnknownKey, RevokedKey, BadSignature, Tampered, Replayed: see ``edgeloop.signing.errors``.
    """
    root = Path(root)
    sig = read_signature(root)
    info = keyring.find(sig.key_id)
    ring = keyring.path or "the key ring"
    if info is None:
        raise UnknownKey(
            f"{root}: signed by key {sig.key_id}, which {ring} does not list; re-sign with a key the device "
            "trusts, or pin a key ring that has it (KEYS/keyring.json)"
        )
    if info.status == "revoked":
        raise RevokedKey(
            f"{root}: signed by key {sig.key_id}, revoked {info.revoked_at} ({info.reason}); "
            "re-sign it with the active key: `edgeloop bundle sign BUNDLE --keys KEYS`"
        )
    raw, body = _manifest_body(root)
    try:
        keyring.public_key(info).verify(sig.signature, canonical_json(body))
    except InvalidSignature:
        raise BadSignature(
            f"{root}: signature by key {sig.key_id} does not match {MANIFEST}: the manifest or signature "
            "was changed or corrupted after signing; re-copy the bundle"
        ) from None
    try:
        manifest = Manifest.model_validate(body)
    except ValidationError:
        raise Tampered(
            f"{root / MANIFEST}: signed but not a valid manifest; re-sign a valid bundle"
        ) from None
    if manifest_text(manifest).encode("utf-8") != raw:
        raise Tampered(
            f"{root / MANIFEST}: not byte-for-byte the manifest edgeloop writes for its content "
            "(changed after signing); re-copy the bundle"
        )
    check_files(root, manifest)
    _check_counter(root, manifest, min_counter)
    return manifest


def _check_counter(root: Path, manifest: Manifest, min_counter: int | None) -> None:
    if manifest.counter is None:
        raise Unsigned(
            f"{root}: signed without a release counter; "
            "re-sign it with `edgeloop bundle sign BUNDLE --keys KEYS`"
        )
    if min_counter is not None and manifest.counter < min_counter:
        raise Replayed(
            f"{root}: release counter {manifest.counter} is older than {min_counter} (a replayed or "
            "downgraded bundle); to roll back on purpose, re-sign the old bundle with a new counter: "
            "`edgeloop bundle sign BUNDLE --keys KEYS`"
        )
