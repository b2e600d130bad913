"""Attempts record what went mid-run (their fault).

Attempts never store the ``error`` outcome: a station error (a pulled probe, a registry outage, a
station bug) is stored as ``failed``. Without the fault the lot figures count a pulled probe as a
failed unit (issue 12). Existing rows get NULL: unknown, counted as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("attempts", sa.Column("fault", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as b:
        b.drop_column("fault")
