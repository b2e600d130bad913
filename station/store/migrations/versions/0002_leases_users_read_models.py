"""Station leases, one live attempt per device, users with PINs, audit decisions, lot-scale indexes.

* ``station_leases``: one row per station process (heartbeat, expiry); ``attempts.lease_id`` names
  the process that owns an attempt, so only attempts whose owner's lease expired are closed.
* ``uq_attempts_live_device``: a partial unique index, at most one ``running`` attempt per device.
  Registries that already hold several running attempts of one device (left by crashes) keep the
  latest open and close the older ones as abandoned first.
* ``users``: operators, engineers and admins with a scrypt PIN hash and an optional badge ID.
* ``audit``: who asked for a privileged action in which role, whether it was granted, and why.
* ``measurements.lot_id`` (filled from each measurement's attempt) and indexes that keep the lot
  report, the JSON export and the table views on index range scans instead of sorts. Filling the
  column takes about 15 s for a 100k-device lot (1.6 M measurements) on SQLite, once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ABANDONED_REASON = "station stopped during the attempt"
RUNNING = sa.text("outcome = 'running'")


def upgrade() -> None:
    op.create_table(
        "station_leases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("station", sa.String(100), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("released_at", sa.DateTime),
        sa.Column("ended_by", sa.String(200)),
    )
    op.create_index("ix_station_leases_station", "station_leases", ["station", "expires_at"])

    op.add_column("attempts", sa.Column("lease_id", sa.String(32)))
    bind = op.get_bind()
    # Older running duplicates of one device are leftovers of crashes: close them, keep the latest.
    bind.execute(sa.text(
        "UPDATE attempts SET outcome = 'failed', reason = :reason, finished_at = :now "
        "WHERE outcome = 'running' AND id NOT IN "
        "(SELECT max(id) FROM attempts WHERE outcome = 'running' GROUP BY device_id)")
        .bindparams(sa.bindparam("now", type_=sa.DateTime)),
        {"reason": ABANDONED_REASON, "now": datetime.now(UTC).replace(tzinfo=None)})
    op.create_index("uq_attempts_live_device", "attempts", ["device_id"], unique=True,
                    sqlite_where=RUNNING, postgresql_where=RUNNING)
    op.create_index("ix_attempts_lot_seq", "attempts", ["lot_id", "id"])
    op.create_index("ix_attempts_started_at", "attempts", ["started_at"])
    op.create_index("ix_devices_serial_number", "devices", ["serial_number"])

    op.add_column("measurements", sa.Column("lot_id", sa.Integer))
    bind.execute(sa.text(
        "UPDATE measurements SET lot_id = (SELECT a.lot_id FROM attempts a WHERE a.id = measurements.attempt_id)"))
    op.create_index("ix_measurements_lot_stats", "measurements", ["lot_id", "step", "name", "unit", "value_num"])

    op.create_index("ix_outbox_state_id", "outbox", ["state", "id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("pin_hash", sa.String(300), nullable=False),
        sa.Column("badge", sa.String(100), unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.add_column("audit", sa.Column("role", sa.String(20)))
    op.add_column("audit", sa.Column("granted", sa.Boolean))
    op.add_column("audit", sa.Column("reason", sa.Text))
    op.create_index("ix_audit_action", "audit", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_action", "audit")
    with op.batch_alter_table("audit") as b:
        b.drop_column("reason")
        b.drop_column("granted")
        b.drop_column("role")
    op.drop_table("users")
    op.drop_index("ix_outbox_state_id", "outbox")
    op.drop_index("ix_measurements_lot_stats", "measurements")
    with op.batch_alter_table("measurements") as b:
        b.drop_column("lot_id")
    op.drop_index("ix_devices_serial_number", "devices")
    op.drop_index("ix_attempts_started_at", "attempts")
    op.drop_index("ix_attempts_lot_seq", "attempts")
    op.drop_index("uq_attempts_live_device", "attempts")
    with op.batch_alter_table("attempts") as b:
        b.drop_column("lease_id")
    op.drop_index("ix_station_leases_station", "station_leases")
    op.drop_table("station_leases")
