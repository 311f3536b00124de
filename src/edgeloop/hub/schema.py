"""The hub's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are UNIX seconds (float); JSON columns hold the wire formats of DESIGN.md.
Schema changes go through Alembic migrations (``edgeloop/hub/migrations``); this module
is what the newest migration creates, and a test proves the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Admin and device tokens: random secrets, stored as their sha256 (hex) only.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # "admin" | "device"
    sa.Column("device", sa.String(128), sa.ForeignKey("devices.name"), nullable=True),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.CheckConstraint("role IN ('admin', 'device')", name="tokens_role"),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("group", sa.String(128), nullable=False, server_default="default"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    # The newest heartbeat, flattened for the devices page; the full body in ``heartbeat``.
    sa.Column("last_seen", sa.Float, nullable=True),
    sa.Column("model_version", sa.String(200), nullable=False, server_default=""),
    sa.Column("health", sa.String(32), nullable=False, server_default="unknown"),
    sa.Column("fps", sa.Float, nullable=True),
    sa.Column("backlog", sa.BigInteger, nullable=True),
    sa.Column("free_disk_bytes", sa.BigInteger, nullable=True),
    sa.Column("heartbeat", sa.JSON, nullable=True),
)

# One row per distinct image (sha256 of its bytes = the Idempotency-Key). The blob is
# durable before the row commits; a repeated key is answered 2xx and changes nothing.
samples = sa.Table(
    "samples",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(128), sa.ForeignKey("devices.name"), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("captured_at", sa.Float, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("media_type", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("model_version", sa.String(200), nullable=False, server_default=""),
    sa.Column("predictions", sa.JSON, nullable=False),  # detection wire format
    # ",person,car," (the predicted classes), so a class filter is one LIKE on any engine.
    sa.Column("classes", sa.Text, nullable=False, server_default=","),
    sa.Column("sampler", sa.String(64), nullable=False, server_default=""),
    sa.Column("score", sa.Float, nullable=False, server_default="0"),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", sa.JSON, nullable=False),
    # Labelling: "pending" (predictions only) -> "labelled" (a person's boxes) | "rejected".
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("labels", sa.JSON, nullable=True),  # detection wire format, a person's truth
    sa.Column("labelled_at", sa.Float, nullable=True),
    sa.Column("labelled_by", sa.String(200), nullable=True),
    # Fixed once, the first time a dataset version takes the sample: "train" | "val" | "test".
    # A sample in "test" never enters a training split of any later version.
    sa.Column("split", sa.String(8), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'labelled', 'rejected')", name="samples_status"),
)
sa.Index("samples_device_received", samples.c.device, samples.c.received_at)
sa.Index("samples_status_score", samples.c.status, samples.c.score)

# Resumable uploads of large files: chunks are appended until ``received == size``.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(128), sa.ForeignKey("devices.name"), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("received", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # The chunks received so far, in order: [[offset, end], ...], each a blob uploads/<id>/<offset>-<end>.
    sa.Column("chunks", sa.JSON, nullable=True),
    # One upload per device and image, so a restarted device finds and resumes its own.
    sa.UniqueConstraint("device", "sha256", name="uploads_device_sha256"),
)

# Immutable dataset versions: the manifest (blob hashes, labels, splits) and its fingerprint.
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("parent", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("names", sa.JSON, nullable=False),  # class names in id order
    sa.Column("counts", sa.JSON, nullable=False),  # {"train": n, "val": n, "test": n}
    sa.Column("manifest", sa.JSON, nullable=False),
)

# What changed, for ETag polling and MQTT pushes: scope "*" (everyone), "group:G" or "device:D".
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(160), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("body", sa.JSON, nullable=True),
)
sa.Index("events_scope", events.c.scope, events.c.id)

# Background jobs (retrain): this table is the source of truth for status, progress, log and result,
# whichever queue runs them (the hub's own worker thread on SQLite, procrastinate on PostgreSQL).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # "retrain"
    sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
    sa.Column("params", sa.JSON, nullable=False),
    # The retrain plan a trigger enqueued it for (None for a manual job): at most one queued or
    # running job per plan.
    sa.Column("plan", sa.String(128), nullable=True),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("log", sa.Text, nullable=False, server_default=""),  # the newest lines only
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("trigger", sa.String(200), nullable=False, server_default="manual"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("worker", sa.String(200), nullable=True),
    # Written by the running worker every few seconds; a running job whose heartbeat is stale
    # belongs to a worker that died and is failed (hub/jobs/queue.py: fail_stale).
    sa.Column("heartbeat_at", sa.Float, nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="jobs_status"),
)
sa.Index("jobs_status", jobs.c.status, jobs.c.id)

# The model registry: one row per version of a model name, candidate, published or refused, with
# its lineage (dataset version, parent version), metrics and gate report. Bundle tar and training
# checkpoint are blobs (models/<name>/<version>/bundle.tar, .../checkpoint.pt).
models = sa.Table(
    "models",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("counter", sa.Integer, nullable=True),  # the signed bundle's counter (published only)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent_version", sa.Integer, nullable=True),
    sa.Column("dataset_name", sa.String(128), nullable=True),
    sa.Column("dataset_version", sa.Integer, nullable=True),
    sa.Column("dataset_fingerprint", sa.String(64), nullable=True),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("gate", sa.JSON, nullable=True),
    sa.Column("trigger", sa.String(200), nullable=False, server_default=""),
    sa.Column("job_id", sa.Integer, nullable=True),
    sa.Column("bundle_key", sa.String(300), nullable=True),
    sa.Column("checkpoint_key", sa.String(300), nullable=True),
    sa.Column("key_id", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.CheckConstraint("status IN ('candidate', 'published', 'refused')", name="models_status"),
)

# Rollouts: a published model version sent to a device group, canaries first. ``canaries`` is the
# list of device names chosen (deterministically) at creation; ``bundle_*`` describe the registry's
# bundle tar so assignments need no blob read. State: canary | rolling | paused | halted | aborted | done.
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("counter", sa.Integer, nullable=True),
    sa.Column("group", sa.String(128), nullable=False),
    sa.Column("canary_share", sa.Float, nullable=False),
    sa.Column("auto_promote", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("resumes_to", sa.String(16), nullable=True),  # the state a paused rollout resumes
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("canaries", sa.JSON, nullable=False),
    sa.Column("bundle_sha256", sa.String(64), nullable=False),
    sa.Column("bundle_size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint(
        "state IN ('canary', 'rolling', 'paused', 'halted', 'aborted', 'done')", name="rollouts_state"
    ),
)
sa.Index("rollouts_group", rollouts.c.group, rollouts.c.id)

# What each device reported for a rollout (the agent's states, each with a reason): one row per
# device and rollout, the newest report wins.
device_updates = sa.Table(
    "device_updates",
    metadata,
    sa.Column("device", sa.String(128), sa.ForeignKey("devices.name"), primary_key=True),
    sa.Column("rollout", sa.Integer, sa.ForeignKey("rollouts.id"), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("device_updates_rollout", device_updates.c.rollout, device_updates.c.state)

# A device pinned to a model version: wins over every rollout. The newest report of the pinned
# version is kept beside it.
pins = sa.Table(
    "pins",
    metadata,
    sa.Column("device", sa.String(128), sa.ForeignKey("devices.name"), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("counter", sa.Integer, nullable=True),
    sa.Column("bundle_sha256", sa.String(64), nullable=False),
    sa.Column("bundle_size", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
