"""Cloud test fixtures: a registry with passed devices queued for the cloud, and the fake APIs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_cloud import FakeParticle, FakePeridio

from station.store import Registry, open_registry
from station.store.records import CloudTargets

Register = Callable[..., list[str]]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = open_registry(f"sqlite:///{tmp_path / 'station.db'}")
    yield reg
    reg.close()


def register_devices(reg: Registry, ids: list[str], cloud: CloudTargets, *, lot: str = "LOT-1",
                     product: str = "widget") -> list[str]:
    pid = reg.ensure_product(name=product, platform="boron", particle_product=cloud.particle_product,
                             peridio_product_prn=cloud.peridio_product_prn)
    prof = reg.ensure_profile(product_id=pid, path="widget.toml", sha256="ab" * 32, content="[product]")
    lot_id = reg.ensure_lot(lot, product_id=pid)
    for did in ids:
        a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot_id, profile_id=prof, station="st1",
                              slot="1", operator="ana", transport="swd", overrides=[])
        reg.register_passed(a, product_id=pid, lot_id=lot_id, cloud=cloud)
    return ids


def device_ids(n: int, start: int = 0) -> list[str]:
    return [f"e00fce68{i:016x}" for i in range(start, start + n)]


@pytest.fixture
def fake_particle() -> Iterator[FakeParticle]:
    with FakeParticle() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def fake_peridio() -> Iterator[FakePeridio]:
    with FakePeridio() as fake:
        yield fake  # type: ignore[misc]
