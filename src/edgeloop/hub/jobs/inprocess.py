"""The hub's own worker thread (the SQLite default): claims queued jobs from the jobs table.

``edgeloop hub serve`` starts one in its main process (whatever ``--workers`` says), so one hub
runs one job at a time. At start, and every minute after, running jobs whose worker stopped
heartbeating (a hub killed while a job ran) are failed with an error that says so.
"""

from __future__ import annotations

import logging
import threading
import time

from edgeloop.hub.jobs import queue
from edgeloop.hub.jobs.runner import JobEnv, run_job

log = logging.getLogger("edgeloop.hub.jobs")

POLL_S = 1.0
STALE_CHECK_S = 60.0


class InProcessWorker:
    """A daemon thread that runs queued jobs one at a time; ``close()`` waits for the current one."""

    def __init__(self, env: JobEnv, poll_s: float = POLL_S) -> None:
        self.env = env
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgeloop-jobs", daemon=True)

    def start(self) -> InProcessWorker:
        for job_id in queue.fail_stale(self.env.engine):
            log.warning("job %d was running when its worker stopped: marked failed", job_id)
        self._thread.start()
        return self

    def _loop(self) -> None:
        last_check = time.monotonic()
        while not self._stop.is_set():
            try:
                job = queue.claim_next(self.env.engine, self.env.worker)
                if job is not None:
                    run_job(self.env, job)
                    continue
                if time.monotonic() - last_check > STALE_CHECK_S:
                    queue.fail_stale(self.env.engine)
                    last_check = time.monotonic()
            except Exception:  # the database went away for a moment: try again shortly
                log.warning("job worker: database error, retrying", exc_info=True)
            self._stop.wait(self.poll_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Stop claiming jobs; wait (up to ``timeout_s``) for a running one to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
