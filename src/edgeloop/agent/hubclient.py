"""``HubSource``: the hub as the agent's ``UpdateSource``.

* ``next_offer`` polls ``GET /api/v1/device/assignment`` with ``If-None-Match`` every ``poll_s``
  (spread by +-``jitter``), or at once when the hub's MQTT notice arrives (``mqtt_url``). It offers
  the assigned version only when the device does not run it already (``<models>/state.json``'s
  name, version and key counter, or what this source saw committed) and did not fail it before
  (rejected or rolled back here: the same version is not tried again until the hub assigns another).
  That memory is kept in ``<models>/hubsource.json``.
* ``fetch`` downloads the bundle tar in ranges into ``<dest>.part`` (a restart resumes where it
  stopped), then checks size and sha256 before renaming it to ``dest``.
* ``report`` queues the state; a thread of its own sends the queue in order and retries while the
  hub is unreachable. It never raises.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from edgeloop.agent.contract import FINAL_STATES, Offer, Progress
from edgeloop.errors import BundleError
from edgeloop.improve.sync_targets.base import TargetUnavailable
from edgeloop.improve.sync_targets.http import Client

log = logging.getLogger("edgeloop.agent.hubclient")
MEMORY = "hubsource.json"
CHUNK_BYTES = 4 << 20
_RETRYABLE = (408, 425, 429, 500, 502, 503, 504)


def _key_counter(key: str) -> int | None:
    head = key.split("-", 1)[0]
    return int(head) if head.isdigit() else None


class HubSource:
    """Offers, downloads and reports through the hub's device API (see the module docstring)."""

    def __init__(
        self,
        url: str,
        token: str,
        models_dir: Path,
        mqtt_url: str | None = None,
        poll_s: float = 30.0,
        jitter: float = 0.2,
        timeout_s: float = 30.0,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.poll_s, self.jitter, self.chunk_bytes = poll_s, jitter, chunk_bytes
        self.client = Client(url, token, timeout_s)
        self._sender = Client(url, token, timeout_s)
        self.etag: str | None = None
        self.assignment: dict[str, Any] = {}
        self.polls = self.not_modified = self.failed_polls = self.sent = self.dropped = 0
        self._next_poll = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._queued = threading.Condition()
        self._memory = self._load_memory()
        self.mqtt_url = mqtt_url
        self._mqtt: Any = None
        self._thread = threading.Thread(target=self._send_loop, name="hub-reports", daemon=True)
        self._thread.start()

    # -- what the device has -------------------------------------------------------------------
    def _load_memory(self) -> dict[str, Any]:
        try:
            data = json.loads((self.models_dir / MEMORY).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_memory(self) -> None:
        path = self.models_dir / MEMORY
        with contextlib.suppress(OSError):
            self.models_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._memory), encoding="utf-8")
            os.replace(tmp, path)

    @staticmethod
    def _ident(offer: Offer) -> list[Any]:
        return [offer.name, offer.version, offer.sha256]

    def has(self, offer: Offer) -> bool:
        """Whether the device runs ``offer`` already, or failed it before."""
        ident = self._ident(offer)
        if ident in self._memory.get("failed", []) or self._memory.get("running") == ident:
            return True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            current = Path(os.readlink(self.models_dir / "current")).name
            if offer.counter is not None and _key_counter(current) == offer.counter:
                manifest = json.loads((self.models_dir / "current" / "bundle.json").read_bytes())
                if manifest.get("name") == offer.name:
                    return True  # serving it already (committed here, or the one installed by hand)
        try:
            state = json.loads((self.models_dir / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(state, dict) or state.get("name") != offer.name:
            return False
        if state.get("state", "committed") != "committed":
            # In progress (resume it), failed (memory says), or idle after a crash or an interrupted
            # download: then name and version are those of the offer to take again, not the running one.
            return False
        if str(state.get("version")) == offer.version:
            return True
        key = state.get("key")
        counter = _key_counter(key) if isinstance(key, str) else None
        return offer.counter is not None and counter == offer.counter

    # -- offers ----------------------------------------------------------------------------------
    def _offer(self) -> Offer | None:
        body = self.assignment
        if not body.get("model"):
            return None
        offer = Offer(
            name=str(body["model"]),
            version=str(body["version"]),
            counter=body.get("counter"),
            size_bytes=int(body["size"]),
            sha256=str(body["sha256"]),
            source="hub",
            rollout=body.get("rollout"),
            location=str(body["url"]),
        )
        return None if self.has(offer) else offer

    def poll(self) -> bool:
        """One conditional GET of the assignment; whether it changed.

        Raises:
            TargetUnavailable: no answer, or an answer other than 200 / 304.
        """
        headers = [("If-None-Match", self.etag)] if self.etag else []
        response = self.client.request("GET", "/api/v1/device/assignment", headers=headers)
        self.polls += 1
        if response.status == 304:
            self.not_modified += 1
            return False
        body = response.json()
        if response.status != 200 or not isinstance(body, dict):
            raise TargetUnavailable(f"GET /api/v1/device/assignment: {response.status} {response.error()}")
        self.etag = response.headers.get("etag")
        self.assignment = body
        return True

    def next_offer(self, timeout_s: float) -> Offer | None:
        """Block up to ``timeout_s`` for an assigned version the device does not have."""
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.monotonic()
            if now >= self._next_poll or self._wake.is_set():
                self._wake.clear()
                spread = 1.0 + random.uniform(-self.jitter, self.jitter)
                self._next_poll = now + self.poll_s * spread
                try:
                    self.poll()
                except Exception as exc:  # the hub may be away: try at the next poll
                    self.failed_polls += 1
                    log.debug("assignment poll failed (%s)", exc)
                self._start_mqtt()
            offer = self._offer()
            if offer is not None:
                return offer
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                return None
            self._wake.wait(min(left, max(0.0, self._next_poll - time.monotonic())))

    def wake(self) -> None:
        """Poll at once (the MQTT notice calls this)."""
        self._wake.set()

    def _start_mqtt(self) -> None:
        if self.mqtt_url is None or self._mqtt is not None:
            return
        try:
            from edgeloop.improve.hublink import MqttWake

            response = self.client.request("GET", "/api/v1/device/state")
            device = (response.json() or {}).get("device") if response.status == 200 else None
            if device:
                self._mqtt = MqttWake(self.mqtt_url, str(device), self.wake)
        except Exception as exc:  # polling goes on
            log.debug("cannot listen on %s (%s); polling only", self.mqtt_url, exc)
            self.mqtt_url = None

    # -- download --------------------------------------------------------------------------------
    def fetch(self, offer: Offer, dest: Path, progress: Progress | None = None) -> Path:
        """The bundle tar at ``dest``, resuming ``<dest>.part``; checked against size and sha256.

        A resumed download that does not match (a part file corrupted by a crash, say) is
        downloaded once more from the first byte before it counts as a mismatch.

        Raises:
            TargetUnavailable: the hub stopped answering (the part file stays for the next try).
            BundleError: the hub refused, or the bytes do not match the offer (the part is removed).
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        resumed = part.is_file() and part.stat().st_size > 0
        self._download(offer, part, progress)
        try:
            self._check(part, offer)
        except BundleError as exc:
            if not resumed:
                raise
            log.warning("the resumed download did not match (%s); downloading it again from the start", exc)
            self._download(offer, part, progress)  # _check removed the part: from byte 0
            self._check(part, offer)
        os.replace(part, dest)
        return dest

    def _download(self, offer: Offer, part: Path, progress: Progress | None) -> None:
        done = part.stat().st_size if part.exists() else 0
        if done > offer.size_bytes:
            part.unlink()
            done = 0
        with open(part, "ab") as out:
            while done < offer.size_bytes:
                end = min(done + self.chunk_bytes, offer.size_bytes) - 1
                response = self.client.request(
                    "GET", offer.location, headers=[("Range", f"bytes={done}-{end}")]
                )
                if response.status == 200:  # the whole file: start over
                    out.truncate(0)
                    out.seek(0)
                    data = response.body
                    done = 0
                elif response.status == 206:
                    data = response.body
                elif response.status in _RETRYABLE:
                    raise TargetUnavailable(f"GET {offer.location}: {response.status} {response.error()}")
                else:
                    raise BundleError(f"GET {offer.location}: {response.status} {response.error()}")
                out.write(data)
                done += len(data)
                if progress is not None:
                    progress(done, offer.size_bytes)
                if not data:
                    raise TargetUnavailable(f"GET {offer.location}: an empty range at byte {done}")
            out.flush()
            os.fsync(out.fileno())

    @staticmethod
    def _check(part: Path, offer: Offer) -> None:
        digest = hashlib.sha256()
        with open(part, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        size = part.stat().st_size
        if size != offer.size_bytes or digest.hexdigest() != offer.sha256:
            part.unlink()
            raise BundleError(
                f"downloaded {offer.name}@{offer.version}: {size} bytes, sha256 {digest.hexdigest()[:12]}, "
                f"expected {offer.size_bytes} bytes, sha256 {offer.sha256[:12]}; it will be downloaded again"
            )

    # -- reports ---------------------------------------------------------------------------------
    def report(
        self, offer: Offer | None, state: str, reason: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        """Queue ``state`` for the hub (sent in order, retried while the hub is away; never raises)."""
        try:
            if offer is None:
                return  # the hub tracks assignments: a state with no offer is no news to it
            if state in FINAL_STATES:
                ident = self._ident(offer)
                if state == "committed":
                    self._memory["running"] = ident
                else:
                    failed = [f for f in self._memory.get("failed", []) if f[0] != offer.name]
                    self._memory["failed"] = [*failed, ident]
                self._save_memory()
            body = {
                "model": offer.name,
                "version": int(offer.version),
                "rollout": offer.rollout,
                "state": state,
                "reason": reason[:4000],
                "detail": detail,
            }
            with self._queued:
                last = self._queue[-1] if len(self._queue) > 1 else None  # [0] may be in flight
                same = ("model", "version", "rollout", "state")
                if last is not None and state not in FINAL_STATES and all(last[k] == body[k] for k in same):
                    self._queue[-1] = body  # a repeated state (retries while the hub is away): newest wins
                else:
                    self._queue.append(body)
                self._queued.notify()
        except Exception as exc:  # never raise into the agent
            log.warning("cannot queue the %s report (%s)", state, exc)

    def pending(self) -> int:
        """Reports not yet accepted by the hub."""
        with self._queued:
            return len(self._queue)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued report was sent; whether they were."""
        deadline = time.monotonic() + timeout_s
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending() == 0

    def _send_loop(self) -> None:
        delay = 0.5
        while True:
            with self._queued:
                while not self._queue and not self._stop.is_set():
                    self._queued.wait(1.0)
                if not self._queue:
                    return
                body = self._queue[0]
            if self._send(body):
                delay = 0.5
                with self._queued:
                    self._queue.popleft()
            else:
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 30.0)

    def _send(self, body: dict[str, Any]) -> bool:
        data = json.dumps(body).encode()
        try:
            response = self._sender.request(
                "POST", "/api/v1/device/update", data, [("Content-Type", "application/json")]
            )
        except Exception as exc:
            log.debug("update report failed (%s); trying again", exc)
            return False
        if response.status == 204:
            self.sent += 1
            return True
        if response.status in _RETRYABLE:
            return False
        self.dropped += 1  # the hub refused it for good (e.g. a rollout of another group)
        log.warning("the hub refused the %s report: %s %s", body["state"], response.status, response.error())
        return True

    def close(self) -> None:
        """Stop the report thread (after trying to send what is queued, at most 5 s)."""
        self.flush(5.0)
        self._stop.set()
        with self._queued:
            self._queued.notify_all()
        self._wake.set()
        self._thread.join(10)
        if self._mqtt is not None:
            self._mqtt.close()
        self.client.close()
        self._sender.close()
