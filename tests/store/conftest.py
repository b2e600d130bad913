"""Registry fixtures: a fresh SQLite registry per test, and a per-test PostgreSQL schema when available."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("STATION_TEST_DATABASE_URL")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections live in a schema of their own, dropped afterwards."""
    if not PG_URL:
        pytest.skip("STATION_TEST_DATABASE_URL is not set (PostgreSQL multi-station tests)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
