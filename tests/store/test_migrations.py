"""Alembic owns the schema: it must match the models, and opening a registry migrates it."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from station.store import open_registry
from station.store.engine import current_revision, head_revision
from station.store.models import Base


def test_open_migrates_to_head_and_matches_models(sqlite_url: str) -> None:
    reg = open_registry(sqlite_url)
    assert current_revision(reg.engine) == head_revision() is not None
    with reg.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    reg.close()


def test_reopen_is_a_no_op_and_keeps_data(sqlite_url: str) -> None:
    reg = open_registry(sqlite_url)
    reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    reg.close()
    reg = open_registry(sqlite_url)
    assert {t for t in inspect(reg.engine).get_table_names()} >= {"devices", "attempts", "outbox", "audit"}
    assert reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None) == 1
    reg.close()


def test_station_db_env_is_used(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("STATION_DB", url)
    reg = open_registry()
    assert str(reg.engine.url) == url
    reg.close()
    assert "alembic_version" in inspect(create_engine(url)).get_table_names()


def test_stations_opening_a_fresh_database_at_once(sqlite_url: str) -> None:
    """Several stations starting together: one migrates, the others wait and find it done."""
    code = ("import sys; from station.store import open_registry; r = open_registry(sys.argv[1]); "
            "r.ensure_product(name='w', platform='boron', particle_product=None, peridio_product_prn=None)")
    procs = [subprocess.Popen([sys.executable, "-c", code, sqlite_url], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    reg = open_registry(sqlite_url)
    assert current_revision(reg.engine) == head_revision()
    reg.close()
