"""The update agent: one offer at a time through the states of ``contract.STATES``.

::

    downloading -> verifying -> staged -> health_check -> switched -> window -> committed
         \\-------------\\-----------\\----------\\-> rejected          \\-> rolled_back

Each state is written to ``state.json`` (atomically) before its work starts,
then reported to the source with a reason. On start the agent counts the start
(``boot.note_start``) and recovers from what ``state.json`` says:

- idle or a final state: nothing to do (a crash left at most files in staging/, deleted).
- downloading, verifying, staged, health_check (before the switch; ``current`` is
  the old version): staging is emptied and the state set back to idle, so the
  source offers it again (a hub download resumes from the partial file). After
  ``MAX_ATTEMPTS`` crashes on the same offer it is rejected. A download the hub stopped
  answering (``TargetUnavailable``) is no rejection either: the state goes back to idle and
  the offer resumes from the partial file after a poll period.
- switched, window (after the health check passed): the switch is finished
  (both link replaces are idempotent) and the window starts again from the
  beginning; ``note_start`` reverts the version if the agent crashes more than
  ``max_crashes`` times meanwhile. In ``window`` with ``current`` already back at the
  previous version, a revert ran and the crash came before it was recorded: it is
  finished as rolled_back, never switched forward again.
- A roll back that ``note_start`` made in a serving process is marked ``report_pending``
  in state.json; the agent sends it to the source (at its next start, or at the end of
  the window it was watching).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

from edgeloop.agent.boot import clear_starts, note_start
from edgeloop.agent.contract import (
    FINAL_STATES,
    HealthCheck,
    Offer,
    UpdateSource,
    Verdict,
    VersionRef,
    Window,
)
from edgeloop.agent.models import ModelsDir
from edgeloop.agent.stage import MARGIN_BYTES, Rejected, mb, need_space, stage_tar
from edgeloop.bundle import read_manifest
from edgeloop.errors import EdgeloopError
from edgeloop.improve.faults import crash_point
from edgeloop.improve.sync_targets.base import TargetUnavailable
from edgeloop.signing import Keyring

log = logging.getLogger("edgeloop.agent")
PRE_SWITCH = ("downloading", "verifying", "staged", "health_check")
MAX_ATTEMPTS = 3
RETRY_S = 5.0  # wait before taking an offer again after its download was interrupted


def _offer_from(record: dict[str, Any]) -> Offer | None:
    raw = record.get("offer")
    if not isinstance(raw, dict):
        return None
    try:
        return Offer(**raw)
    except TypeError:
        return None


class Agent:
    """Runs offers from ``source`` through verify, health check, switch, window, commit or roll back."""

    def __init__(
        self,
        models_dir: Path,
        source: UpdateSource,
        keyring: Keyring,
        health: HealthCheck,
        window: Window,
        *,
        margin_bytes: int = MARGIN_BYTES,
        max_crashes: int = 3,
        keep_versions: int = 2,
    ) -> None:
        self.models = ModelsDir(models_dir).ensure()
        self.source = source
        self.keyring = keyring
        self.health = health
        self.window = window
        self.margin_bytes = margin_bytes
        self.max_crashes = max_crashes
        self.keep_versions = keep_versions
        self.stop = threading.Event()

    # -- the loop ------------------------------------------------------------------------------

    def start(self) -> str | None:
        """Count this start, then recover from state.json.

        Returns the final state of an offer that recovery finished (a resumed window, an offer
        that crashed the agent too often), else None.
        """
        reverted = note_start(self.models.root, "agent", self.max_crashes)
        if reverted is not None:
            self.source.report(_offer_from(self.models.read_state()), "rolled_back", reverted)
            self.models.update_state("rolled_back", reverted, report_pending=False)
            self.models.gc(self.keep_versions)
            return "rolled_back"
        return self.recover()

    def _send_pending(self) -> str | None:
        """Report an outcome ``note_start`` in a serving process recorded but could not send."""
        record = self.models.read_state()
        if not record.get("report_pending"):
            return None
        state, reason = str(record.get("state")), str(record.get("reason") or "")
        self.source.report(_offer_from(record), state, reason)
        self.models.update_state(state, reason, report_pending=False)
        return state

    def run(self, once: bool = False, poll_s: float = 30.0) -> str | None:
        """Process offers until ``stop`` is set (or, with ``once``, until one offer reaches an end)."""
        while not self.stop.is_set():
            offer = self.source.next_offer(poll_s)
            if offer is None:
                continue
            final = self.process(offer)
            if once:
                return final
            if final == "idle":  # an interrupted download: let the hub come back before resuming
                self.stop.wait(max(RETRY_S, poll_s))
        return None

    # -- states --------------------------------------------------------------------------------

    def _enter(self, state: str, about: Offer, reason: str, **fields: Any) -> None:
        self.models.update_state(state, reason, **fields)
        crash_point(f"agent:{state}")
        self.source.report(about, state, reason, {k: v for k, v in fields.items() if k != "offer"})

    def _final(self, state: str, about: Offer | None, reason: str, **fields: Any) -> str:
        self.models.finish_state(state, reason, report_pending=False, **fields)
        if state == "committed":
            crash_point("agent:committed")
        self.source.report(about, state, reason)
        log.info("%s: %s", state, reason)
        return state

    def process(self, offer: Offer) -> str:
        """Take one offer to committed, rejected or rolled_back (or stop in the window when told to)."""
        record = self.models.read_state()
        previous_offer = _offer_from(record)
        attempts = int(record.get("attempts") or 0) if previous_offer == offer else 0
        fields: dict[str, Any] = {
            "offer": dataclasses.asdict(offer),
            "name": offer.name,
            "version": offer.version,
            "key": None,
            "previous_key": self.models.current_key(),
            "attempts": attempts + 1,
        }
        tar = self.models.downloads / f"{offer.sha256[:16] or 'offer'}.tar"
        floor = self.models.counter_floor()
        try:
            self._enter("downloading", offer, f"{mb(offer.size_bytes)} MB from {offer.location}", **fields)
            if offer.counter is not None and offer.counter <= floor:  # no need to download it to know
                raise Rejected(
                    f"verification failed (Replayed): release counter {offer.counter} is not above {floor}, "
                    "the one installed (a replayed or downgraded bundle); to roll back on purpose, re-sign "
                    "the old bundle with a new counter: `edgeloop bundle sign BUNDLE --keys KEYS`"
                )
            need_space(self.models.downloads, offer.size_bytes + self.margin_bytes, "downloading")
            try:
                self.source.fetch(offer, tar)
            except TargetUnavailable as exc:  # the hub went away: not the bundle's fault; resume later
                reason = f"download interrupted ({exc}); it resumes at the next offer"
                self.models.update_state("idle", reason, attempts=0)  # not a crash: do not count it
                self.source.report(offer, "downloading", reason)
                return "idle"
            except (OSError, EdgeloopError) as exc:
                raise Rejected(f"download failed: {exc}") from None
            self._enter("verifying", offer, "signature, key, release counter and every file's sha256")
            staged = stage_tar(self.models, tar, self.keyring, floor + 1, self.margin_bytes)
            path = self.models.install(staged.folder, staged.key)
            tar.unlink(missing_ok=True)
            self._enter("staged", offer, f"verified, installed as versions/{staged.key}", key=staged.key)
            self._enter("health_check", offer, f"checking {staged.key} in a separate process")
            previous = self.models.current_key()
            try:
                verdict = self.health(path, self.models.version_path(previous) if previous else None)
            except Exception as exc:
                verdict = Verdict(False, f"the check raised {type(exc).__name__}: {exc}")
            if not verdict.ok:
                self._drop_version(staged.key)
                raise Rejected(f"health check failed: {verdict.reason}")
        except Rejected as exc:
            tar.unlink(missing_ok=True)
            self.models.clean_staging()
            return self._final("rejected", offer, str(exc))
        return self._switch_and_watch(offer, staged.key, previous)

    def _drop_version(self, key: str) -> None:
        self.models.remove_version(key)

    def _switch_and_watch(self, offer: Offer, key: str, previous: str | None) -> str:
        self._enter(
            "switched", offer, f"current -> {key} (previous {previous})", key=key, previous_key=previous
        )
        with self.models.lock():
            self.models.switch(key, previous)
        return self._watch(offer, key, previous)

    def _ref(self, key: str | None) -> VersionRef | None:
        if key is None:
            return None
        manifest = read_manifest(self.models.version_path(key))
        return VersionRef(key, manifest.name, manifest.version, manifest.counter)

    def _watch(self, offer: Offer, key: str, previous: str | None) -> str:
        self._enter("window", offer, f"watching {key} against {previous}")
        new_ref = self._ref(key)
        assert new_ref is not None
        try:
            verdict = self.window(self.models.root, new_ref, self._ref(previous), self.stop)
        except Exception as exc:
            verdict = Verdict(False, f"the window raised {type(exc).__name__}: {exc}")
        if self.stop.is_set() and not verdict.ok:
            return "window"  # told to stop: the next start resumes the window
        with self.models.lock():
            if self.models.current_key() != key:  # a serving process reverted it (crashed at start)
                sent = self._send_pending()
                if sent is not None:
                    return sent
                state = str(self.models.read_state().get("state"))
                if state in FINAL_STATES:
                    return state
                return self._final("rolled_back", offer, f"{key} is no longer current; it was reverted")
            if verdict.ok:
                floor = max(self.models.counter_floor(), int(key.split("-", 1)[0]))
                final = self._final("committed", offer, f"committed {key}", counter_floor=floor)
                clear_starts(self.models.root, key)
            else:
                final = self._roll_back(offer, key, previous, f"window failed: {verdict.reason}")
        self.models.gc(self.keep_versions)
        return final

    def _roll_back(self, offer: Offer | None, key: str, previous: str | None, reason: str) -> str:
        if previous is None:
            return self._final(
                "rolled_back", offer, f"{reason}; no previous version to go back to, {key} stays current"
            )
        self.models.revert(previous)
        clear_starts(self.models.root, key)
        return self._final("rolled_back", offer, f"{reason}; reverted to {previous}")

    # -- recovery ------------------------------------------------------------------------------

    def recover(self) -> str | None:
        """Bring the folder back to a consistent state after a crash (see the module docstring).

        Returns the final state when it finished an offer, else None.
        """
        record = self.models.read_state()
        state = str(record.get("state") or "idle")
        offer = _offer_from(record)
        self.models.clean_staging()
        if state in FINAL_STATES:  # a crash may have come before the clean-up that follows a final state
            for leftover in self.models.downloads.glob("*.tar*"):
                leftover.unlink(missing_ok=True)
            if state == "committed" and record.get("key"):
                clear_starts(self.models.root, str(record["key"]))
            return self._send_pending()
        if state == "idle" or state in FINAL_STATES or offer is None:
            return None
        if state in PRE_SWITCH:
            key = record.get("key")
            if key and key != self.models.current_key():
                self.models.remove_version(str(key))
            if int(record.get("attempts") or 0) >= MAX_ATTEMPTS:
                return self._final("rejected", offer, f"the agent crashed {MAX_ATTEMPTS} times while {state}")
            self.models.update_state(
                "idle", f"restarted after a crash while {state}; the offer is tried again"
            )
            return None
        key, previous = str(record.get("key") or ""), record.get("previous_key")
        if not key or not self.models.version_path(key).is_dir():
            return self._roll_back(offer, key, previous, f"{key} is missing after a restart")
        current = self.models.current_key()
        if state == "window" and current != key and current is not None and current == previous:
            # The window starts only after the switch, so a revert already ran (the agent's or
            # note_start's) and the crash came before it was recorded: never switch back to it.
            clear_starts(self.models.root, key)
            return self._final("rolled_back", offer, f"{key} was reverted to {previous} before a restart")
        with self.models.lock():
            self.models.switch(key, previous)
        return self._watch(offer, key, previous)
