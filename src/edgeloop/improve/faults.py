"""Named crash points for fault-injection tests.

With ``EDGELOOP_CRASH_AT=<point>`` in the environment, the process kills itself
with SIGKILL the first time it reaches that point, so a test can crash the
spool in each window of its write protocol instead of hoping a random kill
lands there. Unset (always, outside tests), each point is one comparison.

Points: ``temp_written`` (temp file fsynced, not renamed), ``file_renamed``
(file in place, row not committed), ``evicted`` (row committed, evicted files
not yet unlinked), ``acked`` (ack committed, file not yet unlinked; by the spool or
by sync), ``sync_uploaded`` (the sync target holds the sample, its ack not yet committed).

The update agent (``edgeloop.agent``) has ``agent:<state>`` for each state it enters
(state.json already says that state), and ``agent:switch_middle``: between the two
link replaces of a switch (``previous`` moved, ``current`` not yet).
"""

from __future__ import annotations

import os
import signal

AGENT_STATES = ("downloading", "verifying", "staged", "health_check", "switched", "window", "committed")
AGENT_POINTS = (*(f"agent:{state}" for state in AGENT_STATES), "agent:switch_middle")
POINTS = ("temp_written", "file_renamed", "evicted", "acked", "sync_uploaded", *AGENT_POINTS)
_CRASH_AT = os.environ.get("EDGELOOP_CRASH_AT")


def crash_point(name: str) -> None:
    """SIGKILL this process if ``EDGELOOP_CRASH_AT`` names ``name``."""
    if _CRASH_AT is not None and name == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
