"""The models folder on disk: install verified versions, switch and revert links, clean up, state.json.

Every change is durable before the next step starts: a version folder is fsynced
file by file and then renamed into ``versions/`` in one step; ``current`` and
``previous`` are relative symlinks replaced by ``os.replace`` of a temporary
link, and the folder is fsynced after each replace; ``state.json`` is written
to a temporary file, fsynced, renamed and the folder fsynced. So after a crash
at any instant ``current`` names a complete version (or, before the first
install, nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeloop.agent.layout import CURRENT, HEALTH, PREVIOUS, VERSIONS
from edgeloop.bundle import MANIFEST, read_manifest
from edgeloop.improve.faults import crash_point
from edgeloop.signing.storage import fsync_dir, locked

STAGING = "staging"
DOWNLOADS = "downloads"
BOOTS = "boots"
STATE = "state.json"
HISTORY_KEEP = 200  # outcomes kept in state.json (a watched folder skips offers listed there)
UNCOMMITTED = ("switched", "window")


def now_iso() -> str:
    """The time in UTC, to the second, as state.json records it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def key_for(bundle_dir: Path) -> str:
    """``<counter:08d>-<first 12 hex of sha256(bundle.json bytes)>`` (counter 0 when unset)."""
    counter = read_manifest(bundle_dir).counter or 0
    digest = hashlib.sha256((bundle_dir / MANIFEST).read_bytes()).hexdigest()[:12]
    return f"{counter:08d}-{digest}"


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (and ``root``) to disk."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


class ModelsDir:
    """``<models>``: see ``edgeloop.agent.layout`` for the folder's shape."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def versions(self) -> Path:
        return self.root / VERSIONS

    @property
    def staging(self) -> Path:
        return self.root / STAGING

    @property
    def downloads(self) -> Path:
        return self.root / DOWNLOADS

    @property
    def boots(self) -> Path:
        return self.root / BOOTS

    @property
    def state_path(self) -> Path:
        return self.root / STATE

    def ensure(self) -> ModelsDir:
        """Create the folder and its work folders."""
        for folder in (
            self.root,
            self.versions,
            self.staging,
            self.downloads,
            self.boots,
            self.root / HEALTH,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``<models>/.lock``: the agent and ``note_start`` in serving processes take turns."""
        with locked(self.root):
            yield

    # -- links ---------------------------------------------------------------------------------

    def link_key(self, name: str) -> str | None:
        """The version key a link (``current`` or ``previous``) names, or None."""
        try:
            target = os.readlink(self.root / name)
        except OSError:
            return None
        parts = Path(target).parts
        return parts[1] if len(parts) == 2 and parts[0] == VERSIONS else None

    def current_key(self) -> str | None:
        return self.link_key(CURRENT)

    def previous_key(self) -> str | None:
        return self.link_key(PREVIOUS)

    def version_path(self, key: str) -> Path:
        return self.versions / key

    def installed(self) -> list[str]:
        """Keys of the complete versions, oldest counter first."""
        if not self.versions.is_dir():
            return []
        return sorted(p.name for p in self.versions.iterdir() if p.is_dir() and not p.name.startswith("."))

    def set_link(self, name: str, key: str) -> None:
        """Point ``name`` at ``versions/<key>`` in one ``os.replace``, then fsync the folder."""
        if not self.version_path(key).is_dir():
            raise FileNotFoundError(f"{self.version_path(key)}: no such version; cannot link {name} to it")
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(f"{VERSIONS}/{key}", tmp)
        os.replace(tmp, self.root / name)
        fsync_dir(self.root)

    def switch(self, key: str, previous: str | None) -> None:
        """``previous`` -> the old version, then ``current`` -> ``key``; idempotent (recovery finishes it)."""
        if previous is not None and previous != key and self.previous_key() != previous:
            self.set_link(PREVIOUS, previous)
        crash_point("agent:switch_middle")
        if self.current_key() != key:
            self.set_link(CURRENT, key)

    def revert(self, to: str) -> None:
        """Point ``current`` back at ``to`` (the previous version)."""
        if self.current_key() != to:
            self.set_link(CURRENT, to)

    # -- versions ------------------------------------------------------------------------------

    def install(self, staged: Path, key: str) -> Path:
        """Move a verified folder from ``staging/`` into ``versions/<key>`` (fsynced, one rename)."""
        target = self.version_path(key)
        if target.is_dir():  # the same bytes were installed before (e.g. an offer retried after a crash)
            shutil.rmtree(staged, ignore_errors=True)
            return target
        fsync_tree(staged)
        os.rename(staged, target)
        fsync_dir(self.versions)
        return target

    def remove_version(self, key: str) -> bool:
        """Delete a version that neither link names; False when it is linked (then it stays)."""
        if key in (self.current_key(), self.previous_key()):
            return False
        path = self.version_path(key)
        if path.is_dir():
            # Rename first so a crash mid-delete never leaves a half folder under a version key.
            doomed = self.staging / f".delete-{key}"
            shutil.rmtree(doomed, ignore_errors=True)
            os.rename(path, doomed)
            fsync_dir(self.versions)
            shutil.rmtree(doomed, ignore_errors=True)
        return True

    def gc(self, keep_newest: int = 2) -> list[str]:
        """Delete versions but current, previous and the ``keep_newest`` highest keys; empty staging/."""
        keys = self.installed()
        keep = {self.current_key(), self.previous_key(), *keys[len(keys) - keep_newest :]}
        removed = [key for key in keys if key not in keep and self.remove_version(key)]
        self.clean_staging()
        return removed

    def clean_staging(self) -> None:
        """Delete whatever a crash left in ``staging/`` (and temporary state files)."""
        for tmp in self.root.glob(f".{STATE}.*.partial"):
            tmp.unlink(missing_ok=True)
        if self.staging.is_dir():
            for entry in self.staging.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    # -- state.json ----------------------------------------------------------------------------

    def read_state(self) -> dict[str, Any]:
        """The agent's record; ``{"state": "idle"}`` when there is none yet."""
        try:
            value = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"state": "idle", "history": []}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"state": "idle", "reason": f"{self.state_path} unreadable ({exc})", "history": []}
        return value if isinstance(value, dict) else {"state": "idle", "history": []}

    def write_state(self, record: dict[str, Any]) -> None:
        """Replace state.json atomically (temporary file, fsync, rename, fsync of the folder)."""
        body = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        # A temporary name of this process's own: the agent and note_start in a serving process
        # may write at once, and each must rename a whole file of its own.
        tmp = self.state_path.with_name(f".{STATE}.{os.getpid()}.{time.monotonic_ns()}.partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, body.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.state_path)
        fsync_dir(self.root)

    def update_state(self, state: str, reason: str = "", **fields: Any) -> dict[str, Any]:
        """Set the state (keeping history, counter floor and whatever ``fields`` do not replace)."""
        record = self.read_state()
        record.update(fields)
        record.update(state=state, reason=reason, since=now_iso())
        self.write_state(record)
        return record

    def finish_state(self, state: str, reason: str, **fields: Any) -> dict[str, Any]:
        """A final state, with its outcome appended to the history, in one atomic write."""
        record = self.read_state()
        record.update(fields)
        record.update(state=state, reason=reason, since=now_iso())
        offer = record.get("offer") or {}
        entry = {
            "state": state,
            "reason": reason,
            "at": record["since"],
            "key": record.get("key"),
            "name": offer.get("name"),
            "version": offer.get("version"),
            "sha256": offer.get("sha256"),
        }
        record["history"] = [*record.get("history", []), entry][-HISTORY_KEEP:]
        self.write_state(record)
        return record

    def counter_floor(self) -> int:
        """The highest counter this device committed (0 when none); newer offers must exceed it."""
        floor = int(self.read_state().get("counter_floor") or 0)
        current = self.current_key()
        if current is not None:
            with contextlib.suppress(ValueError):
                floor = max(floor, int(current.split("-", 1)[0]))
        return floor
