"""A line of stations on one PostgreSQL registry: racing registrations and concurrent drainers.

Needs ``STATION_TEST_DATABASE_URL``; each test works in a schema of its own (see conftest).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from station.cloud.http import RetryPolicy
from station.cloud.particle import ParticleClient
from station.cloud.sync import Drainer
from station.errors import RegistryConflict
from station.store import Registry, open_registry
from station.store.models import Base
from station.store.records import CloudTargets

sys.path.insert(0, str(Path(__file__).parent.parent / "cloud"))
from fake_cloud import FakeParticle

pytestmark = pytest.mark.postgres
CLOUD = CloudTargets(particle_product="widget-1")


def _setup(reg: Registry) -> tuple[int, int, int]:
    pid = reg.ensure_product(name="widget", platform="boron", particle_product="widget-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="12" * 32, content="x")
    return pid, prof, reg.ensure_lot("PG-1", product_id=pid)


def test_migrates_and_matches_models(pg_url: str) -> None:
    reg = open_registry(pg_url)
    with reg.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    reg.close()


def test_two_stations_register_the_same_device_exactly_one_wins(pg_url: str) -> None:
    stations = [open_registry(pg_url), open_registry(pg_url)]
    pid, prof, lot = _setup(stations[0])
    rounds = 12
    outcomes: list[list[str]] = [[] for _ in range(rounds)]
    for r in range(rounds):
        did = f"e00fce68{r:016x}"
        attempts = [reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof,
                                      station=f"st{i}", slot="1", operator="op", transport="swd", overrides=[])
                    for i, reg in enumerate(stations)]
        barrier = threading.Barrier(2)

        def register(i: int, attempts: list[int] = attempts, r: int = r,
                     barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                stations[i].register_passed(attempts[i], product_id=pid, lot_id=lot, cloud=CLOUD)
                outcomes[r].append("won")
            except RegistryConflict as exc:
                assert "while this attempt was running" in str(exc) or "same time" in str(exc)
                outcomes[r].append("conflict")

        threads = [threading.Thread(target=register, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(sorted(o) == ["conflict", "won"] for o in outcomes), outcomes
    counts = stations[0].outbox_counts()
    assert [(c.target, c.pending) for c in counts] == [("particle", rounds)]  # one entry per device, not two
    for reg in stations:
        reg.close()


@pytest.mark.slow
def test_two_drainers_never_send_an_entry_twice(pg_url: str) -> None:
    reg = open_registry(pg_url)
    pid, prof, lot = _setup(reg)
    n = 400
    for i in range(n):
        a = reg.start_attempt(device_id=f"e00fce68{i:016x}", platform="boron", lot_id=lot, profile_id=prof,
                              station="st1", slot="1", operator="op", transport="swd", overrides=[])
        reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)
    with FakeParticle() as fake:
        fake.hang_s = 0.02  # network latency, so the two drainers overlap for real
        drainers = [Drainer(open_registry(pg_url), particle=ParticleClient(fake.secret, fake.url,
                                                                           policy=RetryPolicy(attempts=2)),
                            peridio=None, batch=20, worker=f"w{i}") for i in range(2)]
        threads = [threading.Thread(target=d.drain_once) for d in drainers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(fake.import_counts.values()) == n and set(fake.import_counts.values()) == {1}
        per_worker = [d.particle.requests_sent for d in drainers if d.particle]
        assert sum(per_worker) == n // 20 and min(per_worker) > 0  # both drained, neither duplicated
    assert [(c.pending, c.imported) for c in reg.outbox_counts()] == [(0, n)]
    reg.close()
