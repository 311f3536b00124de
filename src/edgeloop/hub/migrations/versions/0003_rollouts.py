"""Rollouts: tables rollouts, device_updates and pins.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=True),
        sa.Column("group", sa.String(length=128), nullable=False),
        sa.Column("canary_share", sa.Float(), nullable=False),
        sa.Column("auto_promote", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("resumes_to", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("canaries", sa.JSON(), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "state IN ('canary', 'rolling', 'paused', 'halted', 'aborted', 'done')", name="rollouts_state"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("rollouts_group", "rollouts", ["group", "id"], unique=False)
    op.create_table(
        "device_updates",
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("rollout", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["device"], ["devices.name"]),
        sa.ForeignKeyConstraint(["rollout"], ["rollouts.id"]),
        sa.PrimaryKeyConstraint("device", "rollout"),
    )
    op.create_index("device_updates_rollout", "device_updates", ["rollout", "state"], unique=False)
    op.create_table(
        "pins",
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=True),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["device"], ["devices.name"]),
        sa.PrimaryKeyConstraint("device"),
    )


def downgrade() -> None:
    op.drop_table("pins")
    op.drop_index("device_updates_rollout", table_name="device_updates")
    op.drop_table("device_updates")
    op.drop_index("rollouts_group", table_name="rollouts")
    op.drop_table("rollouts")
