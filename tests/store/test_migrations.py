"""Alembic owns the schema: it must match the models, and opening a registry migrates it."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import DateTime, bindparam, create_engine, inspect, text

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


def _registry_at_0001(url: str) -> None:
    """A registry exactly as the first release created it (schema 0001), with data in it."""
    from alembic import command

    from station.store.engine import _alembic_config, make_engine

    engine = make_engine(url)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO products (id, name, platform, created_at) VALUES (1, 'w', 'boron', :now)",
            "INSERT INTO profiles (id, product_id, sha256, path, content, created_at) VALUES (1, 1, 'ab', 'p', 'x', :now)",
            "INSERT INTO lots (id, name, product_id, created_at) VALUES (1, 'L1', 1, :now)",
            "INSERT INTO devices (device_id, platform, registrations, first_seen) "
            "VALUES ('e00fce680000000000000001', 'boron', 0, :now)",
            # two attempts left running by crashes on one device, then a finished one on it
            *(f"INSERT INTO attempts (id, device_id, lot_id, profile_id, station, slot, operator, transport, "
              f"overrides, registrations_seen, started_at, outcome) VALUES ({i}, 'e00fce680000000000000001', 1, 1, "
              f"'s', '1', 'o', 'swd', '[]', 0, :now, 'running')" for i in (1, 2)),
            "INSERT INTO measurements (attempt_id, device_id, step, name, value_num, unit, passed, try_number) "
            "VALUES (2, 'e00fce680000000000000001', 'power', 'vbat', 3.9, 'V', :yes, 1)",
        ):
            stmt = text(sql).bindparams(bindparam("now", type_=DateTime)) if ":now" in sql else text(sql)
            conn.execute(stmt, {"now": datetime(2026, 1, 1)} if ":now" in sql else {"yes": True})
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_registry_of_schema_0001_opens_and_upgrades_keeping_its_data(backend: str, request: pytest.FixtureRequest
                                                                       ) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    _registry_at_0001(url)
    reg = open_registry(url)
    assert current_revision(reg.engine) == head_revision()
    with reg.engine.connect() as conn:
        outcomes = dict(conn.execute(text("SELECT id, outcome FROM attempts ORDER BY id")).all())
        faults = conn.execute(text("SELECT fault FROM attempts ORDER BY id")).scalars().all()
        lot_ids = conn.execute(text("SELECT lot_id FROM measurements")).scalars().all()
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    # the older of two running attempts of one device was a crash leftover: closed; the latest stays live
    assert outcomes == {1: "failed", 2: "running"}
    assert faults == [None, None]  # rows older than 0004: fault unknown
    assert lot_ids == [1]  # measurements know their lot (the report aggregates by it)
    report = reg.lot_aggregates("L1")
    assert [(m.name, m.count, m.unit) for m in report.measurements] == [("vbat", 1, "V")]
    reg.close()


def test_the_fast_path_knows_the_real_head() -> None:
    from station.store.engine import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD, "bump SCHEMA_HEAD in station/store/engine.py with each new migration"
