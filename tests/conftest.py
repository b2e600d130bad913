"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from station.hw import backend
from station.sim.bench import Bench, forget_twins, set_default_bench
from station.sim.chip import drop_chip
from station.store.registry import Registry, open_registry


@pytest.fixture
def station_bench(tmp_path: Path) -> Iterator[Bench]:
    """An empty bench that the station uses as its hardware (``use_sim``: twin USB backend, pty
    host, default bench for pyocd's ``sim`` probe). Afterwards every twin is released — pty host
    stopped, chips (emulated cores) dropped, mmaps closed — so tests never share a device."""
    b = Bench(tmp_path / "bench")
    b.path.mkdir()
    backend.use_sim(b.path)
    yield b
    backend.stop_sim_hosts()
    backend.use_sim(None)
    set_default_bench(None)
    for twin in b.twins():
        drop_chip(twin)
    forget_twins(b.path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'station.db'}"


@pytest.fixture
def registry(sqlite_url: str) -> Iterator[Registry]:
    """A fresh SQLite registry (migrated to head) for one test."""
    reg = open_registry(sqlite_url)
    yield reg
    reg.close()


PG_URL = os.environ.get("STATION_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-user station state (owed attempt closes, station/store/spool.py) stays inside the test."""
    if "XDG_STATE_HOME" not in os.environ or not os.environ["XDG_STATE_HOME"].startswith(str(
            tmp_path_factory.getbasetemp())):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections live in a schema of their own, dropped afterwards."""
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
