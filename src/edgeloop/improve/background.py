"""Sync on a thread beside capture: what ``edgeloop run`` / ``serve`` with ``--hub URL`` start.

The thread opens the spool through its own connection (``SpoolAcker``), so capture
and sync share the folder the same way a separate ``edgeloop sync`` process would.
A refused setting (bad token, wrong URL) stops the thread with a message; inference
and capture go on. ``close`` stops it and returns the run's numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from edgeloop.improve.acker import SpoolAcker
from edgeloop.improve.heartbeat import DeviceFacts
from edgeloop.improve.hublink import HubLink, open_link
from edgeloop.improve.sync import Syncer, SyncStats
from edgeloop.improve.sync_targets import TargetOptions, TargetRefused, open_target


class BackgroundSync:
    """A ``Syncer`` running until ``close``.

    Args:
        spool_dir: the spool capture writes into (it must exist: start after capture opened it).
        kind: a sync target name (``hub``, ``folder``, ``s3``).
        options: the target's settings.
        rate_bps: bandwidth cap in bytes/s (None: none).
        log: gets one line per notable event (rejections, waits, a stop, a hub state change).
        heartbeat_s: with a hub, send heartbeats (and poll the device's state) this often; None: don't.
        mqtt_url: with a hub, the broker it publishes changes to (``--hub-mqtt``).
        facts: what the model's process knows, for the heartbeats.
    """

    def __init__(
        self,
        spool_dir: str | Path,
        kind: str,
        options: TargetOptions,
        rate_bps: int | None = None,
        log: Callable[[str], None] = lambda line: None,
        heartbeat_s: float | None = None,
        mqtt_url: str | None = None,
        facts: Callable[[], DeviceFacts] = DeviceFacts,
    ) -> None:
        self.acker = SpoolAcker(spool_dir)
        try:
            self.target = open_target(kind, options)
        except BaseException:
            self.acker.close()
            raise
        self.syncer = Syncer(self.acker, self.target, rate_bps, log=log)
        self.error: str | None = None
        self._log = log
        self._thread = threading.Thread(target=self._work, name="sync", daemon=True)
        self._thread.start()
        self.link: HubLink | None = None
        if kind == "hub" and heartbeat_s is not None and options.token:
            self.link = open_link(
                options.location,
                options.token,
                str(spool_dir),
                heartbeat_s,
                mqtt_url,
                facts,
                lambda: (self.syncer.stats.as_dict(), self.error),
                log,
            )

    def _work(self) -> None:
        try:
            self.syncer.run()
        except TargetRefused as exc:
            self.error = str(exc)
            self._log(f"sync stopped: {exc}")
        except Exception as exc:  # sync must never take inference down
            self.error = f"{type(exc).__name__}: {exc}"
            self._log(f"sync stopped: {self.error}")

    @property
    def stats(self) -> SyncStats:
        """The numbers so far."""
        return self.syncer.stats

    def close(self) -> SyncStats:
        """Stop the thread (an upload in progress is abandoned, not acked) and release the spool."""
        self.syncer.stop()
        if self.link is not None:
            self.link.close()
        self._thread.join()
        self.target.close()
        self.acker.close()
        return self.syncer.stats

    def __enter__(self) -> BackgroundSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
