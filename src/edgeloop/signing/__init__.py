"""Ed25519 bundle signatures, key rings and release counters (see docs/retrain/keys.md).

On the device path: imports neither torch nor OpenCV.
"""

from edgeloop.signing.counter import advance_counter, current_counter, next_counter
from edgeloop.signing.errors import (
    BadSignature,
    KeyringError,
    Replayed,
    RevokedKey,
    SignatureError,
    Tampered,
    UnknownKey,
    Unsigned,
)
from edgeloop.signing.keyfolder import Signer, generate_key, load_signer, revoke_key, rotate_key
from edgeloop.signing.keys import KeyInfo, Keyring
from edgeloop.signing.sign import SignatureFile, check_signable, read_signature, sign_bundle, verify_bundle

__all__ = [
    "BadSignature",
    "KeyInfo",
    "Keyring",
    "KeyringError",
    "Replayed",
    "RevokedKey",
    "SignatureError",
    "SignatureFile",
    "Signer",
    "Tampered",
    "UnknownKey",
    "Unsigned",
    "advance_counter",
    "check_signable",
    "current_counter",
    "generate_key",
    "load_signer",
    "next_counter",
    "read_signature",
    "revoke_key",
    "rotate_key",
    "sign_bundle",
    "verify_bundle",
]
