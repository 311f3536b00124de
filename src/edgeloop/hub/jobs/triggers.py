"""Retrain triggers of ``hub serve --retrain retrain.yaml``: every N new labelled samples, and on a
schedule. A trigger never enqueues a job while one for the same plan is queued or running.

The watermark of each trigger is the newest job of the plan (any status), so a restarted hub
neither forgets labels counted before nor retrains at once on a schedule it just met.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeloop.errors import ConfigError
from edgeloop.hub import schema
from edgeloop.hub.jobs import dispatch
from edgeloop.optional import require
from edgeloop.retrain.params import RetrainParams, TrainSettings
from edgeloop.validation import format_validation_error

log = logging.getLogger("edgeloop.hub.jobs")


class Triggers(BaseModel):
    """When a plan retrains on its own (none set: only by hand)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_labels: int | None = Field(None, ge=1, description="after this many newly labelled samples")
    every_s: float | None = Field(None, gt=0, description="at most this often, in seconds")


class RetrainPlan(BaseModel):
    """``retrain.yaml``: what to retrain, how to gate it, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="plan name (default: the model's)")
    model: str
    dataset: str = Field(description="hub dataset; each triggered run makes a new version first")
    field: str | None = None
    train: TrainSettings = TrainSettings()
    gate: dict[str, Any] = Field(default_factory=dict)
    triggers: Triggers = Triggers()
    poll_s: float = Field(5.0, gt=0, le=3600, description="how often the triggers look")

    @model_validator(mode="after")
    def _check(self) -> RetrainPlan:
        self.params()  # the job it makes must be valid
        return self

    @property
    def plan_name(self) -> str:
        return self.name or self.model

    def params(self) -> RetrainParams:
        return RetrainParams(
            dataset=self.dataset,
            model=self.model,
            field=self.field,
            snapshot=True,
            train=self.train,
            gate=self.gate,
        )


def load_plan(path: Path) -> RetrainPlan:
    """Read and validate ``retrain.yaml``."""
    yaml = require("yaml", "PyYAML", "hub", "retrain plans")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RetrainPlan.model_validate(data or {})
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the retrain plan: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc, 'key', model=RetrainPlan)}") from None


def _last_job_at(conn: sa.Connection, plan: str) -> float | None:
    j = schema.jobs
    value = conn.execute(sa.select(sa.func.max(j.c.created_at)).where(j.c.plan == plan)).scalar()
    return None if value is None else float(value)


def due(engine: sa.Engine, plan: RetrainPlan, started_at: float, now: float | None = None) -> str | None:
    """Why ``plan`` should retrain now (the job's trigger text), or None."""
    now = time.time() if now is None else now
    s = schema.samples
    with engine.begin() as conn:
        since = _last_job_at(conn, plan.plan_name)
        every = plan.triggers.every_labels
        if every is not None:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(s)
                .where(s.c.status == "labelled", s.c.labelled_at > (since or 0.0))
            ).scalar_one()
            if count >= every:
                return f"{count} new labelled samples (plan {plan.plan_name}: every {every})"
    every_s = plan.triggers.every_s
    if every_s is not None and now - (since or started_at) >= every_s:
        return f"schedule (plan {plan.plan_name}: every {every_s:g} s)"
    return None


def fire(engine: sa.Engine, plan: RetrainPlan, started_at: float) -> int | None:
    """Enqueue a job for ``plan`` when a trigger is due and none is active; its id."""
    reason = due(engine, plan, started_at)
    if reason is None:
        return None
    job = dispatch.submit_for_plan(engine, "retrain", plan.params().model_dump(), reason, plan.plan_name)
    if job is None:
        return None
    log.info("retrain job %d queued: %s", job.id, reason)
    return job.id


class TriggerThread:
    """Looks at the plan's triggers every ``poll_s`` seconds."""

    def __init__(self, engine: sa.Engine, plan: RetrainPlan) -> None:
        self.engine = engine
        self.plan = plan
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgeloop-triggers", daemon=True)

    def start(self) -> TriggerThread:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.plan.poll_s):
            try:
                fire(self.engine, self.plan, self.started_at)
            except Exception:
                log.warning("retrain trigger: failed, trying again", exc_info=True)

    def close(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
