"""Registry behaviour on SQLite: attempts, registration rules, outbox atomicity, abandoned attempts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from station.errors import ConfigError, DeviceBusy, RegistryConflict
from station.store import Registry, open_registry
from station.store.models import Attempt, Device, Flash, Measurement, OutboxRow, Step
from station.store.records import CloudTargets, DeviceIdentity, MeasurementRecord

DID = "e00fce68aabbccddeeff0011"
CLOUD = CloudTargets(particle_product="widget-1", particle_groups=["a"], peridio_product_prn="prn:1:x:product:w")


def setup(reg: Registry, product: str = "widget", lot: str = "L1") -> tuple[int, int, int]:
    pid = reg.ensure_product(name=product, platform="boron", particle_product="widget-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path=f"{product}.toml", sha256="cd" * 32, content="[product]")
    return pid, prof, reg.ensure_lot(lot, product_id=pid)


def start(reg: Registry, lot_id: int, prof: int, did: str = DID, station: str = "st1") -> int:
    return reg.start_attempt(device_id=did, platform="boron", lot_id=lot_id, profile_id=prof, station=station,
                             slot="2", operator="ana", transport="swd", overrides=["allow-downgrade"])


def test_sqlite_pragmas(registry: Registry) -> None:
    with registry.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_ensure_is_idempotent_and_lot_belongs_to_one_product(registry: Registry) -> None:
    pid, prof, lot = setup(registry)
    assert setup(registry) == (pid, prof, lot)
    other = registry.ensure_product(name="gadget", platform="argon", particle_product=None, peridio_product_prn=None)
    with pytest.raises(ConfigError, match="belongs to product 'widget'"):
        registry.ensure_lot("L1", product_id=other)


def test_a_full_attempt_is_recorded(registry: Registry) -> None:
    pid, prof, lot = setup(registry)
    a = start(registry, lot, prof)
    registry.record_step(a, name="flash", started_at=datetime.now(UTC), duration_s=4.2, outcome="passed",
                         details={"bytes_written": 1024})
    registry.record_flash(a, module_sha256="ef" * 32, function=4, index=1, version=5302, address=0x30000,
                          role="device_os")
    registry.record_measurement(a, MeasurementRecord(step="test", name="vbat", passed=True, value=3.71, unit="V",
                                                     low=3.3, high=4.3, duration_s=0.1))
    registry.record_identity(DID.upper(), serial_number="SN1", imei=None, iccid="8901", device_os_version="5.3.2",
                             product_firmware_version="7")
    registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)
    status = registry.device_status(DID)
    assert (status.registered_product_id, status.last_outcome, status.attempts) == (pid, "passed", 1)
    with registry.reading() as s:
        att = s.get(Attempt, a)
        assert att is not None and att.overrides == ["allow-downgrade"] and att.finished_at is not None
        assert s.scalars(select(Step)).one().details == {"bytes_written": 1024}
        assert s.scalars(select(Flash)).one().version == 5302
        assert s.scalars(select(Measurement)).one().value_num == pytest.approx(3.71)
        dev = s.get(Device, DID)
        assert dev is not None and dev.serial_number == "SN1" and dev.iccid == "8901"
        assert sorted(r.target for r in s.scalars(select(OutboxRow))) == ["particle", "peridio"]


def test_failed_attempt_binds_nothing_and_queues_nothing(registry: Registry) -> None:
    _, prof, lot = setup(registry)
    a = start(registry, lot, prof)
    registry.finish_attempt(a, outcome="failed", failing_step="test", reason="vbat low")
    assert registry.device_status(DID).registered_product_id is None
    assert registry.outbox_counts() == []
    with pytest.raises(RegistryConflict, match="not running"):
        registry.finish_attempt(a, outcome="failed", failing_step=None, reason=None)


def test_device_of_another_product_is_refused_with_reason(registry: Registry) -> None:
    pid, prof, lot = setup(registry)
    registry.register_passed(start(registry, lot, prof), product_id=pid, lot_id=lot, cloud=CLOUD)
    pid2, prof2, lot2 = setup(registry, product="gadget", lot="G1")
    a2 = start(registry, lot2, prof2)
    with pytest.raises(RegistryConflict, match="registered to product 'widget' \\(lot L1\\)"):
        registry.register_passed(a2, product_id=pid2, lot_id=lot2, cloud=CLOUD)
    with registry.reading() as s:  # the refused registration left nothing behind
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 2
        att = s.get(Attempt, a2)
        assert att is not None and att.outcome == "running"


def test_reprovision_same_product_keeps_history(registry: Registry) -> None:
    pid, prof, lot = setup(registry)
    registry.register_passed(start(registry, lot, prof), product_id=pid, lot_id=lot, cloud=CLOUD)
    lot_b = registry.ensure_lot("L2", product_id=pid)
    registry.register_passed(start(registry, lot_b, prof), product_id=pid, lot_id=lot_b, cloud=CLOUD)
    status = registry.device_status(DID)
    assert status.attempts == 2 and status.registered_lot_id == lot_b


def test_a_second_attempt_on_a_live_id_is_refused_before_it_starts(registry: Registry) -> None:
    """Two slots holding devices with the same ID (a cloned ID): the second never gets an attempt."""
    pid, prof, lot = setup(registry)
    a1 = start(registry, lot, prof, station="st1")
    with pytest.raises(DeviceBusy, match=r"already being provisioned by station st1 slot 2"):
        start(registry, lot, prof, station="st2")
    registry.register_passed(a1, product_id=pid, lot_id=lot, cloud=CLOUD)
    assert registry.device_status(DID).attempts == 1


def test_an_attempt_closed_as_abandoned_cannot_register_later(registry: Registry) -> None:
    """The registration check still guards a station that stalled past its lease: its attempt was
    closed and the device registered by another; its late registration changes nothing."""
    pid, prof, lot = setup(registry)
    stalled = start(registry, lot, prof, station="st1")
    assert registry.close_abandoned_attempts("st1") == 1  # no live owner
    a2 = start(registry, lot, prof, station="st2")
    registry.register_passed(a2, product_id=pid, lot_id=lot, cloud=CLOUD,
                             identity=DeviceIdentity(serial_number="SN-A", iccid="8901A", device_os_version="5.3.2"))
    with pytest.raises(RegistryConflict, match="already finished"):
        registry.register_passed(stalled, product_id=pid, lot_id=lot, cloud=CLOUD,
                                 identity=DeviceIdentity(serial_number="SN-B", iccid="8901B", imei="35B"))
    with registry.reading() as s:
        dev = s.get(Device, DID)
        assert dev is not None and dev.registered_attempt_id == a2
        assert (dev.serial_number, dev.iccid, dev.imei) == ("SN-A", "8901A", None)


def test_identity_is_written_with_the_registration_and_not_by_a_refused_one(registry: Registry) -> None:
    """A refused registration (another product's device) leaves the registered identity alone."""
    pid, prof, lot = setup(registry)
    a1 = start(registry, lot, prof, station="st1")
    registry.register_passed(a1, product_id=pid, lot_id=lot, cloud=CLOUD,
                             identity=DeviceIdentity(serial_number="SN-A", iccid="8901A", device_os_version="5.3.2"))
    other, oprof, olot = setup(registry, product="gadget", lot="G1")
    a2 = start(registry, olot, oprof, station="st2")
    with pytest.raises(RegistryConflict, match="registered to product 'widget'"):
        registry.register_passed(a2, product_id=other, lot_id=olot, cloud=CLOUD,
                                 identity=DeviceIdentity(serial_number="SN-B", iccid="8901B", imei="35B"))
    registry.finish_attempt(a2, outcome="failed", failing_step="register", reason="other product")
    with registry.reading() as s:
        dev = s.get(Device, DID)
        assert dev is not None
        assert (dev.serial_number, dev.iccid, dev.imei, dev.device_os_version) == ("SN-A", "8901A", None, "5.3.2")
    # A later registration with partial identity keeps the fields it did not read.
    a3 = start(registry, lot, prof)
    registry.register_passed(a3, product_id=pid, lot_id=lot, cloud=CLOUD,
                             identity=DeviceIdentity(product_firmware_version="8"))
    record = registry.device_record(DID)
    assert record is not None
    assert (record.serial_number, record.product_firmware_version) == ("SN-A", "8")


def test_close_abandoned_attempts_only_for_this_station(registry: Registry) -> None:
    _, prof, lot = setup(registry)
    mine = start(registry, lot, prof, did="e00fce680000000000000001", station="st1")
    theirs = start(registry, lot, prof, did="e00fce680000000000000002", station="st2")
    assert registry.close_abandoned_attempts("st1") == 1
    with registry.reading() as s:
        m, t = s.get(Attempt, mine), s.get(Attempt, theirs)
        assert m is not None and t is not None
        assert (m.outcome, m.reason) == ("failed", "station stopped during the attempt")
        assert t.outcome == "running"


def test_bad_device_id_is_input_error(registry: Registry) -> None:
    _, prof, lot = setup(registry)
    with pytest.raises(ConfigError, match="24 hex"):
        start(registry, lot, prof, did="not-an-id")


def test_slots_in_threads_share_one_registry(registry: Registry) -> None:
    pid, prof, lot = setup(registry)
    errors: list[BaseException] = []

    def slot(n: int) -> None:
        try:
            for i in range(15):
                did = f"e00fce68{n:08x}{i:08x}"
                a = start(registry, lot, prof, did=did)
                registry.record_step(a, name="flash", started_at=datetime.now(UTC), duration_s=0.1, outcome="passed")
                registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=slot, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    summary = registry.lot_by_name("L1")
    assert (summary.devices, summary.passed) == (90, 90)


def test_audit_and_label(registry: Registry) -> None:
    _, prof, lot = setup(registry)
    a = start(registry, lot, prof)
    registry.record_label(DID, a, path="/tmp/l.png", fmt="png")
    registry.end_attempt(a)  # an attempt's labels are written with its next state change (journal.py)
    registry.audit("recover locked chip", operator="ana", station="st1", device_id=DID,
                   details={"confirmed_by": "ana"})
    with registry.reading() as s:
        assert s.execute(text("SELECT action, operator FROM audit")).one() == ("recover locked chip", "ana")
        assert s.execute(text("SELECT fmt FROM labels")).scalar() == "png"


def test_lot_summary_counts_latest_attempt(registry: Registry) -> None:
    pid, prof, lot = setup(registry)
    a = start(registry, lot, prof)
    registry.finish_attempt(a, outcome="failed", failing_step="test", reason="x")
    assert (registry.lot_by_name("L1").passed, registry.lot_by_name("L1").failed) == (0, 1)
    registry.register_passed(start(registry, lot, prof), product_id=pid, lot_id=lot, cloud=CLOUD)
    assert (registry.lot_by_name("L1").passed, registry.lot_by_name("L1").failed) == (1, 0)
    with pytest.raises(ConfigError, match="unknown lot"):
        registry.lot_by_name("nope")


def test_unknown_attempt_is_a_registry_conflict_not_a_library_error(registry: Registry) -> None:
    with pytest.raises(RegistryConflict, match="step of attempt 999"):
        registry.record_step(999, name="flash", started_at=datetime.now(UTC), duration_s=1, outcome="passed")
    with pytest.raises(RegistryConflict, match="attempt 999 does not exist"):
        registry.register_passed(999, product_id=1, lot_id=1, cloud=CLOUD)


def test_unreachable_or_bad_database_is_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot open or migrate"):
        open_registry("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match="not valid"):
        open_registry("not a url")
