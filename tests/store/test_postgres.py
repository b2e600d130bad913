"""A line of stations on one PostgreSQL registry: racing registrations and concurrent drainers.

Needs ``STATION_TEST_DATABASE_URL``; each test works in a schema of its own (see conftest).
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event

from station.cloud.http import RetryPolicy
from station.cloud.particle import ParticleClient
from station.cloud.sync import Drainer
from station.errors import DeviceBusy, RegistryConflict
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


def test_two_stations_starting_on_one_device_at_once_exactly_one_gets_it(pg_url: str) -> None:
    """Issue 10 item 7 under a real race: the partial unique index lets one attempt in, the other
    station gets DeviceBusy (before touching the board); one registration, one outbox entry."""
    stations = [open_registry(pg_url), open_registry(pg_url)]
    pid, prof, lot = _setup(stations[0])
    for i, reg in enumerate(stations):
        reg.hold_station(f"st{i}")
    rounds = 12
    outcomes: list[list[str]] = [[] for _ in range(rounds)]
    for r in range(rounds):
        did = f"e00fce68{r:016x}"
        barrier = threading.Barrier(2)

        def start_and_register(i: int, did: str = did, r: int = r, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                a = stations[i].start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof,
                                              station=f"st{i}", slot="1", operator="op", transport="swd",
                                              overrides=[])
            except DeviceBusy as exc:
                assert "already being provisioned by station st" in str(exc)
                outcomes[r].append("busy")
                return
            try:
                stations[i].register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)
            except RegistryConflict as exc:
                # started while the other's registration committed: the registration check catches it
                assert "while this attempt was running" in str(exc)
                stations[i].finish_attempt(a, outcome="failed", failing_step="register", reason=str(exc))
                outcomes[r].append("conflict")
                return
            outcomes[r].append("won")

        threads = [threading.Thread(target=start_and_register, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    # A slow loser may start after the winner registered: then it re-provisions (same product),
    # a second, legitimate attempt; never two at once.
    assert all(len(o) == 2 and "won" in o and set(o) <= {"won", "busy", "conflict"} for o in outcomes), outcomes
    assert any("busy" in o for o in outcomes), "the race never happened"
    counts = stations[0].outbox_counts()
    assert [(c.target, c.pending) for c in counts] == [("particle", sum(o.count("won") for o in outcomes))]
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


def _register(reg: Registry, ids: tuple[int, int, int], i: int) -> None:
    pid, prof, lot = ids
    a = reg.start_attempt(device_id=f"e00fce68{i:016x}", platform="boron", lot_id=lot, profile_id=prof,
                          station="st1", slot="1", operator="op", transport="swd", overrides=[])
    reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)


def _register_after_first_statement(reader: Registry, writer: Registry, ids: tuple[int, int, int], i: int,
                                    marker: str) -> None:
    """Another station registers a device as soon as ``reader`` has run its first statement
    mentioning ``marker`` (so the read is under way when the commit lands)."""
    fired: list[bool] = []

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and marker in statement:
            fired.append(True)
            _register(writer, ids, i)

    event.listen(reader.engine, "after_cursor_execute", after)


def test_lot_report_counts_one_state_while_a_station_registers(pg_url: str) -> None:
    """A report's statements share one snapshot (REPEATABLE READ): at PostgreSQL's default READ
    COMMITTED the device registered mid-report was in the attempt count but not the device count."""
    from station.ftest.report import lot_report

    reader, writer = open_registry(pg_url), open_registry(pg_url)
    ids = _setup(writer)
    for i in range(3):
        _register(writer, ids, i)
    _register_after_first_statement(reader, writer, ids, 3, "count(")
    rep = lot_report(reader, "PG-1")
    assert (rep.devices, rep.attempts, rep.first_pass) == (3, 3, 3)
    assert lot_report(reader, "PG-1").devices == 4  # the next report sees it
    reader.close()
    writer.close()


def test_json_export_is_one_snapshot_while_a_station_registers(pg_url: str, tmp_path: Path) -> None:
    """The export's lot, rows, steps and measurements come from one snapshot: a device committed
    after the export began is in none of them, and the next export has it."""
    from station.export.manifest import export_lot

    reader, writer = open_registry(pg_url), open_registry(pg_url)
    ids = _setup(writer)
    for i in range(2):
        _register(writer, ids, i)
    _register_after_first_statement(reader, writer, ids, 2, "lots")
    first = export_lot(reader, "PG-1", "json", tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text())
    assert first.devices == 2 and len(doc["devices"]) == 2
    assert export_lot(reader, "PG-1", "json", tmp_path / "b.json").devices == 3
    reader.close()
    writer.close()
