"""Why a signed bundle, a key or a key ring is refused.

Every verification failure is a :class:`SignatureError`, itself a
:class:`~edgeloop.errors.BundleError`, so code that already refuses broken
bundles refuses badly signed ones too. Each message is one line that names
the fix.
"""

from __future__ import annotations

from edgeloop.errors import BundleError, EdgeloopError


class SignatureError(BundleError):
    """A bundle's signature cannot be trusted."""


class Unsigned(SignatureError):
    """The bundle has no ``bundle.sig`` (or was signed without a release counter)."""


class UnknownKey(SignatureError):
    """The bundle was signed by a key the key ring does not list."""


class RevokedKey(SignatureError):
    """The bundle was signed by a key the key ring marks revoked."""


class BadSignature(SignatureError):
    """``bundle.sig`` is malformed, or its signature does not match ``bundle.json``."""


class Tampered(SignatureError):
    """A file differs from what the signed manifest lists, or a file is not listed at all."""


class Replayed(SignatureError):
    """The bundle's release counter is older than the one the device already accepted."""


class KeyringError(EdgeloopError):
    """A key folder or key ring is missing, malformed, or has no key for the operation asked."""
