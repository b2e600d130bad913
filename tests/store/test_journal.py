"""One write transaction per device state change (issue 16): what is written when, and that a
failed flush keeps every record for the next one."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from station.domain import FAULT_STATION_STOPPED
from station.errors import RegistryConflict
from station.store import Registry, open_registry
from station.store.leases import ABANDONED_REASON, HostIdentity, this_host
from station.store.models import Attempt, Flash, Label, Measurement, Step
from station.store.records import CloudTargets, DeviceStatus, FlashRecord, MeasurementRecord

DID = "e00fce68aabbccddeeff0011"


def counts(reg: Registry) -> tuple[int, int, int, int]:
    with reg.reading() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(m)) or 0)  # type: ignore[return-value]
                     for m in (Step, Measurement, Flash, Label))


def step(reg: Registry, a: int, name: str) -> None:
    reg.record_step(a, name=name, started_at=datetime.now(UTC), duration_s=0.1, outcome="passed")


def test_a_passed_device_is_five_write_transactions_and_loses_nothing(registry: Registry) -> None:
    pid = registry.ensure_product(name="w", platform="boron", particle_product="w-1", peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = registry.ensure_lot("L1", product_id=pid)
    writes: list[str] = []

    @event.listens_for(registry.engine, "begin")
    def _begin(conn: object) -> None:
        if conn.get_execution_options().get("station_sqlite_begin") != "DEFERRED":  # type: ignore[attr-defined]
            writes.append("tx")

    fl = FlashRecord(module_sha256="cd" * 32, function=5, index=1, version=6, address=0xD4000, role="user")
    a = registry.start_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof, station="s",
                               slot="1", operator="o", transport="swd", overrides=[])
    for name in ("connect", "identify", "registry-check", "flash"):
        step(registry, a, name)
    assert counts(registry) == (0, 0, 0, 0)  # journaled: nothing happened to the device yet
    registry.record_flashes(a, [fl, fl])
    assert counts(registry) == (4, 0, 2, 0)  # firmware changed: the flash and everything before it
    for i in range(16):
        registry.record_measurement(a, MeasurementRecord(step="t", name=f"m{i}", passed=True, value=float(i)))
    step(registry, a, "functional-tests")
    registry.record_flashes(a, [fl])
    registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets(particle_product="w-1"))
    step(registry, a, "register")
    for fmt in ("png", "pdf"):
        registry.record_label(DID, a, path=f"{DID}.{fmt}", fmt=fmt)
    step(registry, a, "label")
    assert counts(registry) == (5, 16, 3, 0)
    registry.end_attempt(a)
    assert counts(registry) == (7, 16, 3, 2)
    assert len(writes) == 5  # start, flash, flash-final, registration, end
    with registry.reading() as s:  # measurements carry their attempt's device and lot
        assert set(s.execute(select(Measurement.device_id, Measurement.lot_id)).all()) == {(DID, lot)}


def test_a_refused_flush_keeps_the_records_for_the_next_one(registry: Registry) -> None:
    pid = registry.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    other = registry.ensure_product(name="g", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot, olot = registry.ensure_lot("L1", product_id=pid), registry.ensure_lot("G1", product_id=other)
    first = registry.start_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof, station="s",
                                   slot="1", operator="o", transport="swd", overrides=[])
    registry.register_passed(first, product_id=pid, lot_id=lot, cloud=CloudTargets())
    a = registry.start_attempt(device_id=DID, platform="boron", lot_id=olot, profile_id=prof, station="s",
                               slot="1", operator="o", transport="swd", overrides=[])
    step(registry, a, "flash")
    registry.record_measurement(a, MeasurementRecord(step="t", name="v", passed=True, value=1.0))
    with pytest.raises(RegistryConflict):  # another product's device: the transaction rolls back
        registry.register_passed(a, product_id=other, lot_id=olot, cloud=CloudTargets())
    assert counts(registry) == (0, 0, 0, 0)
    registry.finish_attempt(a, outcome="failed", failing_step="register", reason="other product")
    assert counts(registry) == (1, 1, 0, 0)  # written with the close, once
    registry.end_attempt(a)
    assert counts(registry) == (1, 1, 0, 0)


def test_closing_the_registry_writes_what_is_still_journaled(registry: Registry, sqlite_url: str) -> None:
    pid = registry.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = registry.ensure_lot("L1", product_id=pid)
    a = registry.start_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof, station="s",
                               slot="1", operator="o", transport="swd", overrides=[])
    registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets())
    step(registry, a, "register")  # the caller never said end_attempt
    registry.close()
    from station.store import open_registry

    again = open_registry(sqlite_url)
    assert counts(again) == (1, 0, 0, 0)
    again.close()


def test_the_registry_check_reads_in_the_start_transaction(registry: Registry) -> None:
    """What the pipeline's registry check reads (``device_status``) comes back from the attempt's
    own start, as it was before that attempt, in one transaction and no read of its own."""
    pid = registry.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = registry.ensure_lot("L1", product_id=pid)
    begins: list[str | None] = []

    @event.listens_for(registry.engine, "begin")
    def _begin(conn: object) -> None:
        begins.append(conn.get_execution_options().get("station_sqlite_begin"))  # type: ignore[attr-defined]

    def start() -> tuple[int, DeviceStatus]:
        expected = registry.device_status(DID)
        begins.clear()
        started = registry.open_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof,
                                        station="s", slot="1", operator="o", transport="swd", overrides=[])
        assert len(begins) == 1 and begins[0] != "DEFERRED"  # one write transaction, no read
        assert started.before == expected
        return started.attempt_id, started.before

    a, before = start()  # a device never seen: no row, no history
    assert before == DeviceStatus(device_id=DID, registered_product_id=None, registered_lot_id=None, platform=None,
                                  last_outcome=None, attempts=0)
    registry.finish_attempt(a, outcome="failed", failing_step="flash", reason="x")
    a, before = start()
    assert (before.attempts, before.last_outcome, before.registered_product_id) == (1, "failed", None)
    registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets())
    a, before = start()
    registry.finish_attempt(a, outcome="skipped", failing_step=None, reason="already provisioned")
    _, before = start()  # the skipped re-scan is history, not the last result
    assert (before.attempts, before.last_outcome, before.registered_product_id) == (3, "passed", pid)
    assert before.registered_lot_id == lot and before.platform == "boron"


def test_a_start_that_closes_a_dead_stations_attempt_reports_that_close(registry: Registry,
                                                                         sqlite_url: str) -> None:
    """The start that finds the device's attempt left running by a station whose process died
    closes it (station-stopped) in its own transaction, and the status it returns is read after
    that close: the device's last outcome is that failure, no longer "running"."""
    pid = registry.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = registry.ensure_lot("L1", product_id=pid)
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a process of this PC that has stopped: its lease is dead at once
    dead = open_registry(sqlite_url)
    try:
        dead.host_identity = HostIdentity(this_host().host, this_host().boot_id, gone.pid)
        dead.hold_station("line-dead")
        left = dead.start_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof,
                                  station="line-dead", slot="1", operator="o", transport="swd", overrides=[])
        assert registry.device_status(DID).last_outcome == "running"
        started = registry.open_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof,
                                        station="s", slot="1", operator="o", transport="swd", overrides=[])
    finally:
        dead.close()
    assert (started.before.attempts, started.before.last_outcome) == (1, "failed")
    with registry.reading() as s:
        closed = s.get(Attempt, left)
        assert closed is not None
        assert (closed.outcome, closed.reason, closed.fault) == ("failed", ABANDONED_REASON, FAULT_STATION_STOPPED)
    assert started.attempt_id != left and registry.device_status(DID).last_outcome == "running"
