"""The models folder an agent manages and serve/run follow.

::

    <models>/current  -> versions/<key>     symlink, switched by one os.replace (then fsync of the folder)
    <models>/previous -> versions/<key>     the version to roll back to
    <models>/versions/<key>/                complete, verified bundle folders (never written after install)
    <models>/staging/ downloads/ boots/     the agent's work folders
    <models>/health/<role>-<pid>.json       what serve/run report about the versions they served
    <models>/state.json                     the agent's state, replaced atomically
"""

from __future__ import annotations

from pathlib import Path

CURRENT = "current"
PREVIOUS = "previous"
VERSIONS = "versions"
HEALTH = "health"


def current_bundle(models_dir: Path) -> Path | None:
    """The bundle folder ``current`` points at (resolved), or None when there is none yet."""
    link = models_dir / CURRENT
    try:
        target = link.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    return target if target.is_dir() else None


def version_key(bundle_dir: Path) -> str:
    """The key a served version is known by: its folder name under ``versions/``."""
    return bundle_dir.name
