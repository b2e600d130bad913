"""Devices a digital twin produced are marked simulated.

A bench of twins can be pointed at any registry (``--db``): its device IDs must never be sent to
a real cloud product, so the registry remembers which devices were simulated and ``cloud sync``
holds their entries back. Existing devices were all real hardware as far as the registry can
tell (the column did not exist): they stay ``false``.

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
    op.add_column("devices", sa.Column("simulated", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("devices") as b:
        b.drop_column("simulated")
