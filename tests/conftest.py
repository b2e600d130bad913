"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
