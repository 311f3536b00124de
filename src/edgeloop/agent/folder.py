"""``edgeloop agent --watch DIR``: offers from signed bundle tars or bundle folders dropped into a folder.

An entry is offered once it is complete: names ending in ``.partial``, ``.part``
or ``.tmp`` and hidden names are ignored, and every other entry must look the
same (size and modification time of each file) on two polls in a row, so a copy
still being written is never picked up half-way. Offers whose sha256 is in the
outcome history of ``state.json`` (committed, rejected, rolled back) are not
offered again. Reports go to a JSON-lines log (``<models>/reports.jsonl`` by
default) and the ``edgeloop.agent`` logger; the agent adds each outcome to the
history in ``state.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from edgeloop.agent.contract import Offer, Progress
from edgeloop.agent.models import ModelsDir, now_iso
from edgeloop.archive import create_tar
from edgeloop.bundle import MANIFEST, sha256_file
from edgeloop.signing.errors import SignatureError
from edgeloop.signing.files import present_files

log = logging.getLogger("edgeloop.agent")
IGNORED_SUFFIXES = (".partial", ".part", ".tmp")
_MAX_MANIFEST = 1 << 20
Signature = tuple[tuple[str, int, int], ...]


def _signature(path: Path) -> Signature | None:
    """Name, size and mtime of every file of an entry; None when it vanished or holds a link."""
    try:
        if path.is_file():
            st = path.stat()
            return (("", st.st_size, st.st_mtime_ns),)
        items = []
        for name in present_files(path):
            st = (path / name).stat()
            items.append((name, st.st_size, st.st_mtime_ns))
        return tuple(items)
    except (OSError, SignatureError):  # a link or a race: not offerable now
        return None


def _manifest_of_tar(path: Path) -> dict[str, Any]:
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name == MANIFEST and member.isfile() and member.size <= _MAX_MANIFEST:
                    fh = tar.extractfile(member)
                    if fh is not None:
                        value = json.loads(fh.read().decode("utf-8"))
                        return value if isinstance(value, dict) else {}
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    return {}


def _manifest_of_folder(path: Path) -> dict[str, Any]:
    try:
        value = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _folder_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for name in present_files(path):
        digest.update(f"{name}\0{sha256_file(path / name)}\n".encode())
    return digest.hexdigest()


class FolderSource:
    """An ``UpdateSource`` over a watched folder (see the module docstring)."""

    def __init__(
        self, watch: Path, models_dir: Path, poll_s: float = 1.0, log_path: Path | None = None
    ) -> None:
        self.watch = Path(watch)
        self.models = ModelsDir(models_dir)
        self.poll_s = poll_s
        self.log_path = log_path or self.models.root / "reports.jsonl"
        self._seen: dict[str, Signature | None] = {}
        self._offers: dict[tuple[str, Signature], Offer] = {}

    def _candidates(self) -> list[Path]:
        try:
            entries = list(self.watch.iterdir())
        except FileNotFoundError:
            return []
        keep = [
            p
            for p in entries
            if not p.name.startswith(".")
            and not p.name.endswith(IGNORED_SUFFIXES)
            and not p.is_symlink()
            and (p.is_file() or (p / MANIFEST).is_file())
        ]
        return sorted(keep, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def _offer(self, path: Path, sig: Signature) -> Offer:
        cached = self._offers.get((path.name, sig))
        if cached is not None:
            return cached
        if path.is_file():
            manifest, sha, size = _manifest_of_tar(path), sha256_file(path), path.stat().st_size
        else:
            manifest, sha, size = _manifest_of_folder(path), _folder_digest(path), sum(s for _, s, _ in sig)
        counter = manifest.get("counter")
        offer = Offer(
            name=str(manifest.get("name") or path.name),
            version=str(manifest.get("version") or "?"),
            counter=counter if isinstance(counter, int) else None,
            size_bytes=size,
            sha256=sha,
            source="folder",
            location=str(path),
        )
        self._offers[(path.name, sig)] = offer
        return offer

    def scan(self) -> Offer | None:
        """One poll: the oldest complete entry not handled before, or None."""
        handled = {h.get("sha256") for h in self.models.read_state().get("history", [])}
        for path in self._candidates():
            sig = _signature(path)
            stable = sig is not None and self._seen.get(path.name) == sig
            self._seen[path.name] = sig
            if not stable or sig is None:
                continue
            offer = self._offer(path, sig)
            if offer.sha256 not in handled:
                return offer
        return None

    def next_offer(self, timeout_s: float) -> Offer | None:
        deadline = time.monotonic() + timeout_s
        while True:
            offer = self.scan()
            if offer is not None:
                return offer
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(self.poll_s, left))

    def fetch(self, offer: Offer, dest: Path, progress: Progress | None = None) -> Path:
        """Copy the dropped tar (or pack the dropped folder) to ``dest``, checking it did not change."""
        source = Path(offer.location)
        tmp = dest.with_name(dest.name + ".partial")
        if source.is_dir():
            create_tar({name: source / name for name in present_files(source)}, dest)
            if _folder_digest(source) != offer.sha256:
                dest.unlink(missing_ok=True)
                raise OSError(f"{source}: changed after it was offered; it is offered again once stable")
        else:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            if sha256_file(tmp) != offer.sha256:
                tmp.unlink(missing_ok=True)
                raise OSError(f"{source}: changed after it was offered; it is offered again once stable")
            os.replace(tmp, dest)
        if progress is not None:
            progress(offer.size_bytes, offer.size_bytes)
        return dest

    def report(
        self, offer: Offer | None, state: str, reason: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        entry = {
            "at": now_iso(),
            "state": state,
            "reason": reason,
            "name": offer.name if offer else None,
            "version": offer.version if offer else None,
            "location": offer.location if offer else None,
            "detail": detail or {},
        }
        log.info("%s %s: %s", state, offer.location if offer else "-", reason)
        try:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:  # a report never stops the agent (a full disk, say)
            log.warning("cannot write %s: %s", self.log_path, exc)

    def close(self) -> None:
        pass
