"""Job handlers for the queue tests (the runner imports them by name, like the real ones)."""

from __future__ import annotations

from typing import Any

from edgeloop.errors import DatasetError
from edgeloop.hub.jobs.queue import Job
from edgeloop.hub.jobs.runner import JobEnv, Reporter


def count_up(env: JobEnv, job: Job, reporter: Reporter) -> dict[str, Any]:
    steps = int(job.params["steps"])
    for step in range(1, steps + 1):
        reporter.progress(step / steps)
        reporter.log(f"step {step} of {steps}")
    return {"counted": steps}


def refuse(env: JobEnv, job: Job, reporter: Reporter) -> dict[str, Any]:
    raise DatasetError("dataset shapes@9 does not exist; list them with edgeloop hub dataset ls")
