"""Model versions for the end-to-end OTA rig, put into a hub's registry.

``publish_signed`` is what ``edgeloop hub model add`` does (the bundle signed with the hub's key
folder, the next release counter, published). ``publish_unverified`` stores a bundle the way a
compromised or careless pipeline would (as it is, with the counter it claims): one of
``UNVERIFIED`` kinds, each of which a device must refuse before staging completes:

============ =====================================================================
tampered     signed by the trusted key, then one byte of the model flipped
unsigned     no bundle.sig
unknown_key  signed by a key the device's key ring does not list
revoked_key  signed by a key the device's key ring lists as revoked (leaked, rotated out)
replayed     correctly signed, with the release counter of an older version
============ =====================================================================
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.bundle import read_manifest, write_manifest
from edgeloop.hub import registry
from edgeloop.hub.jobs.seed import add_model
from edgeloop.signing import current_counter, generate_key, load_signer, revoke_key, rotate_key, sign_bundle
from edgeloop.testing.agent_fleet import publish_folder

UNVERIFIED = ("tampered", "unsigned", "unknown_key", "revoked_key", "replayed")
# What the device's reason says for each (a substring, case-insensitive).
UNVERIFIED_REASON = {
    "tampered": "verification failed",
    "unsigned": "verification failed",
    "unknown_key": "verification failed",
    "revoked_key": "verification failed",
    "replayed": "replayed",
}


@dataclass(frozen=True)
class RigKeys:
    """``hub``: the hub's key folder (its ring is the device's ``--keys``); ``leaked``: a copy taken
    before its first key was rotated out and revoked; ``stranger``: a key nobody trusts."""

    hub: Path
    leaked: Path
    stranger: Path

    @property
    def keyring(self) -> Path:
        return self.hub / "keyring.json"


def make_keys(folder: Path) -> RigKeys:
    """A hub key folder whose ring lists one revoked key (a private copy of it in ``leaked``)."""
    hub, leaked, stranger = folder / "hub-keys", folder / "leaked-keys", folder / "stranger-keys"
    first = generate_key(hub, note="the first key, leaked later")
    shutil.copytree(hub, leaked)
    rotate_key(hub, note="after the leak")
    revoke_key(hub, first.key_id, "leaked")
    generate_key(stranger, note="not trusted by any device")
    return RigKeys(hub, leaked, stranger)


def publish_signed(engine: sa.Engine, blobs: Any, bundle: Path, name: str, keys: RigKeys) -> int:
    """``bundle`` as the next published version of ``name``, signed with the hub's key; its number."""
    return add_model(engine, blobs, bundle, name, keys.hub).version


def _bad_folder(kind: str, good: Path, dest: Path, keys: RigKeys, name: str, version: int) -> int | None:
    """Write the ``kind`` bundle into ``dest``; the counter it claims (None: none)."""
    shutil.copytree(good, dest)
    (dest / "bundle.sig").unlink(missing_ok=True)
    write_manifest(dest, read_manifest(dest).model_copy(update={"name": name, "version": str(version)}))
    counter = current_counter(keys.hub) + 1  # above what the device runs: only the signature is wrong
    if kind == "unsigned":
        return None
    if kind == "replayed":
        counter = 1  # the first release's counter: the device runs a newer one
    signer = {"unknown_key": keys.stranger, "revoked_key": keys.leaked}.get(kind, keys.hub)
    sign_bundle(dest, load_signer(signer), counter)
    if kind == "tampered":
        model = dest / read_manifest(dest).variants[0].file
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0x01
        model.write_bytes(bytes(data))
    return counter


def publish_unverified(engine: sa.Engine, blobs: Any, kind: str, good: Path, name: str, keys: RigKeys) -> int:
    """A ``kind`` bundle (see ``UNVERIFIED``) made from ``good``, published as it is; its number."""
    if kind not in UNVERIFIED:
        raise ValueError(f"unknown unverified-bundle kind {kind!r}; choose one of {', '.join(UNVERIFIED)}")
    version = registry.reserve(engine, name, trigger=f"end-to-end test: {kind} bundle")
    with tempfile.TemporaryDirectory(prefix="edgeloop-unverified-") as tmp:
        bundle = Path(tmp) / "bundle"
        counter = _bad_folder(kind, good, bundle, keys, name, version)
        publish_folder(engine, blobs, name, version, bundle, counter=counter, key_id=kind)
    return version
