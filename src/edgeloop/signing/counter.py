"""The release counter: a number that only grows, one per signed release.

Devices refuse a bundle whose counter is below the one they run (a replayed
old release). ``KEYS/counter`` holds the last number issued, as ASCII digits;
it is replaced atomically (temporary file, fsync, rename, fsync of the folder)
under a lock, so a crash or two signers at once never issue a number twice.
"""

from __future__ import annotations

from pathlib import Path

from edgeloop.signing.errors import KeyringError
from edgeloop.signing.storage import locked, write_atomic

COUNTER = "counter"


def current_counter(keys_dir: str | Path) -> int:
    """The last counter issued from ``keys_dir`` (0 when none was)."""
    path = Path(keys_dir) / COUNTER
    if not path.exists():
        return 0
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not text.isdigit():
        raise KeyringError(
            f"{path}: not a counter ({text[:20]!r}); write the last counter issued into it "
            "(the highest `counter` of your signed bundles)"
        )
    return int(text)


def advance_counter(keys_dir: str | Path, at_least: int) -> int:
    """Record that ``at_least`` was issued (e.g. a counter set by hand); returns the stored value."""
    keys_dir = Path(keys_dir)
    with locked(keys_dir):
        value = max(current_counter(keys_dir), at_least)
        write_atomic(keys_dir / COUNTER, f"{value}\n".encode("ascii"))
    return value


def next_counter(keys_dir: str | Path) -> int:
    """Issue the next counter: one above the last, persisted before it is returned."""
    keys_dir = Path(keys_dir)
    with locked(keys_dir):
        value = current_counter(keys_dir) + 1
        write_atomic(keys_dir / COUNTER, f"{value}\n".encode("ascii"))
    return value
