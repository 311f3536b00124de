"""Initial hub schema: tokens, devices, samples, uploads, datasets, events.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "devices",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("group", sa.String(length=128), server_default="default", nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("last_seen", sa.Float(), nullable=True),
        sa.Column("model_version", sa.String(length=200), server_default="", nullable=False),
        sa.Column("health", sa.String(length=32), server_default="unknown", nullable=False),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("backlog", sa.BigInteger(), nullable=True),
        sa.Column("free_disk_bytes", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("events_scope", "events", ["scope", "id"], unique=False)

    op.create_table(
        "samples",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("captured_at", sa.Float(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("model_version", sa.String(length=200), server_default="", nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("classes", sa.Text(), server_default=",", nullable=False),
        sa.Column("sampler", sa.String(length=64), server_default="", nullable=False),
        sa.Column("score", sa.Float(), server_default="0", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("labelled_at", sa.Float(), nullable=True),
        sa.Column("labelled_by", sa.String(length=200), nullable=True),
        sa.Column("split", sa.String(length=8), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'labelled', 'rejected')", name="samples_status"),
        sa.ForeignKeyConstraint(
            ["device"],
            ["devices.name"],
        ),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index("samples_device_received", "samples", ["device", "received_at"], unique=False)
    op.create_index("samples_status_score", "samples", ["status", "score"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=True),
        sa.Column("label", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'device')", name="tokens_role"),
        sa.ForeignKeyConstraint(
            ["device"],
            ["devices.name"],
        ),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("chunks", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device"],
            ["devices.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device", "sha256", name="uploads_device_sha256"),
    )


def downgrade() -> None:
    op.drop_table("uploads")
    op.drop_table("tokens")
    op.drop_index("samples_status_score", table_name="samples")
    op.drop_index("samples_device_received", table_name="samples")

    op.drop_table("samples")
    op.drop_index("events_scope", table_name="events")

    op.drop_table("events")
    op.drop_table("devices")
    op.drop_table("datasets")
