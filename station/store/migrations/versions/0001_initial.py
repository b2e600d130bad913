"""Initial registry schema: products, profiles, lots, devices, attempts, steps, flashes,
measurements, labels, cloud outbox, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
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
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("particle_product", sa.String(200)),
        sa.Column("peridio_product_prn", sa.String(300)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("product_id", "sha256", name="uq_profiles_product_sha"),
    )
    op.create_table(
        "lots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(24), primary_key=True),
        sa.Column("platform", sa.String(40)),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id")),
        sa.Column("lot_id", sa.Integer, sa.ForeignKey("lots.id")),
        sa.Column("registered_attempt_id", sa.Integer),
        sa.Column("registered_at", sa.DateTime),
        sa.Column("registrations", sa.Integer, nullable=False),
        sa.Column("serial_number", sa.String(100)),
        sa.Column("imei", sa.String(20)),
        sa.Column("iccid", sa.String(24)),
        sa.Column("device_os_version", sa.String(40)),
        sa.Column("product_firmware_version", sa.String(40)),
        sa.Column("first_seen", sa.DateTime, nullable=False),
    )
    op.create_index("ix_devices_product_id", "devices", ["product_id"])
    op.create_index("ix_devices_lot_id", "devices", ["lot_id"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device_id", sa.String(24), sa.ForeignKey("devices.device_id"), nullable=False),
        sa.Column("lot_id", sa.Integer, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id"), nullable=False),
        sa.Column("station", sa.String(100), nullable=False),
        sa.Column("slot", sa.String(40), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("transport", sa.String(10), nullable=False),
        sa.Column("overrides", sa.JSON, nullable=False),
        sa.Column("registrations_seen", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("failing_step", sa.String(100)),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_attempts_device_id", "attempts", ["device_id"])
    op.create_index("ix_attempts_lot_device", "attempts", ["lot_id", "device_id"])
    op.create_index("ix_attempts_station_outcome", "attempts", ["station", "outcome"])
    op.create_table(
        "steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_steps_attempt_id", "steps", ["attempt_id"])
    op.create_table(
        "flashes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id"), nullable=False),
        sa.Column("device_id", sa.String(24), sa.ForeignKey("devices.device_id"), nullable=False),
        sa.Column("module_sha256", sa.String(64), nullable=False),
        sa.Column("function", sa.Integer, nullable=False),
        sa.Column("module_index", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("address", sa.Integer, nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
    )
    op.create_index("ix_flashes_attempt_id", "flashes", ["attempt_id"])
    op.create_index("ix_flashes_device_id", "flashes", ["device_id"])
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id"), nullable=False),
        sa.Column("device_id", sa.String(24), sa.ForeignKey("devices.device_id"), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value_num", sa.Float),
        sa.Column("value_text", sa.Text),
        sa.Column("unit", sa.String(20)),
        sa.Column("low", sa.Float),
        sa.Column("high", sa.Float),
        sa.Column("expected", sa.Text),
        sa.Column("regex", sa.Text),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("try_number", sa.Integer, nullable=False),
    )
    op.create_index("ix_measurements_attempt_id", "measurements", ["attempt_id"])
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device_id", sa.String(24), sa.ForeignKey("devices.device_id"), nullable=False),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id")),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("fmt", sa.String(20), nullable=False),
        sa.Column("printed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_labels_device_id", "labels", ["device_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device_id", sa.String(24), sa.ForeignKey("devices.device_id"), nullable=False),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id"), nullable=False),
        sa.Column("target", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("next_try_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime),
        sa.UniqueConstraint("attempt_id", "target", name="uq_outbox_attempt_target"),
    )
    op.create_index("ix_outbox_device_id", "outbox", ["device_id"])
    op.create_index("ix_outbox_ready", "outbox", ["state", "next_try_at"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("station", sa.String(100), nullable=False),
        sa.Column("device_id", sa.String(24)),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_audit_device_id", "audit", ["device_id"])


def downgrade() -> None:
    for table in (
        "audit", "outbox", "labels", "measurements", "flashes", "steps", "attempts", "devices", "lots",
        "profiles", "products",
    ):
        op.drop_table(table)
