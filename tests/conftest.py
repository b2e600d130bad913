"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.hw import backend
from station.sim.bench import Bench, forget_twins, set_default_bench
from station.sim.chip import drop_chip


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
