"""Read models for tables: filters, keyset paging, search, lot figures, device detail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from station.store import Registry
from station.store.records import CloudTargets, MeasurementRecord
from station.store.views import AttemptFilter

CLOUD = CloudTargets(particle_product="widget-1")


@pytest.fixture
def filled(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """Two lots, two stations, 30 devices; every fifth fails once at 'battery' and passes after.
    Attempts start a minute apart from 08:00, each taking 30 s."""
    import station.store.attempts as attempts_mod

    clock = [datetime(2026, 3, 1, 8, 0)]

    def tick() -> datetime:
        clock[0] += timedelta(seconds=30)
        return clock[0]

    monkeypatch.setattr(attempts_mod, "utcnow", tick)
    pid = registry.ensure_product(name="widget", platform="boron", particle_product="widget-1",
                                  peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="aa" * 32, content="x")
    lots = {name: registry.ensure_lot(name, product_id=pid) for name in ("A", "B")}
    for i in range(30):
        did = f"e00fce68{i:016x}"
        lot = "A" if i < 20 else "B"
        for k in range(2 if i % 5 == 0 else 1):
            a = registry.start_attempt(device_id=did, platform="boron", lot_id=lots[lot], profile_id=prof,
                                       station="st1" if i % 2 else "st2", slot=str(i % 4), operator="ana",
                                       transport="swd", overrides=[])
            registry.record_step(a, name="flash", started_at=datetime.now(UTC), duration_s=2.0, outcome="passed")
            registry.record_measurement(a, MeasurementRecord(step="battery", name="vbat", passed=k > 0 or i % 5 != 0,
                                                             value=3.9, unit="V"))
            if i % 5 == 0 and k == 0:
                registry.finish_attempt(a, outcome="failed", failing_step="battery", reason="vbat low")
            else:
                registry.record_identity(did, serial_number=f"SN-{i:04d}", imei=None, iccid=None,
                                         device_os_version=None, product_firmware_version=None)
                registry.register_passed(a, product_id=pid, lot_id=lots[lot], cloud=CLOUD)
    return registry


def all_pages(fetch, limit: int) -> list:  # type: ignore[no-untyped-def]
    rows, cursor = [], None
    while True:
        page = fetch(after=cursor, limit=limit)
        rows.extend(page.rows)
        if page.next is None:
            return rows
        cursor = page.next


def test_keyset_pages_cover_every_attempt_once_newest_first(filled: Registry) -> None:
    rows = all_pages(lambda **kw: filled.attempts_page(**kw), limit=7)
    ids = [r.attempt_id for r in rows]
    assert len(ids) == 36 == len(set(ids)) and ids == sorted(ids, reverse=True)
    assert filled.attempts_count() == 36
    first = rows[-1]
    assert (first.lot, first.product, first.station, first.slot, first.operator, first.transport) == (
        "A", "widget", "st2", "0", "ana", "swd")
    assert first.outcome == "failed" and first.failing_step == "battery" and first.duration_s == 30.0


def test_filters_combine(filled: Registry) -> None:
    f = AttemptFilter(lot="A", outcome="failed")
    rows = filled.attempts_page(f).rows
    assert [r.device_id[-2:] for r in rows] == ["0f", "0a", "05", "00"] and filled.attempts_count(f) == 4
    assert all(r.station == "st1" for r in filled.attempts_page(AttemptFilter(station="st1")).rows)
    assert filled.attempts_page(AttemptFilter(lot="nope")).rows == []
    t0 = filled.attempts_page(AttemptFilter(lot="B")).rows[-1].started_at
    later = filled.attempts_page(AttemptFilter(started_from=t0)).rows
    assert {r.lot for r in later} == {"B"} and len(later) == 12
    both = filled.attempts_page(AttemptFilter(outcome=("passed", "failed"), started_to=t0)).rows
    assert {r.lot for r in both} == {"A"}


def test_text_search_on_device_id_or_serial(filled: Registry) -> None:
    by_serial = filled.attempts_page(AttemptFilter(text="SN-0015")).rows
    assert [(r.device_id, r.serial_number) for r in by_serial] == [("e00fce68000000000000000f", "SN-0015")] * 2
    by_id = filled.attempts_page(AttemptFilter(text="0000001A")).rows  # any case, any part
    assert {r.device_id for r in by_id} == {"e00fce68000000000000001a"}
    assert filled.attempts_page(AttemptFilter(text="100%")).rows == []  # LIKE wildcards are literal
    hits = filled.find_devices("SN-001")
    assert [h.serial_number for h in hits] == [f"SN-{i:04d}" for i in range(10, 20)]
    assert filled.find_devices("SN-0012")[0].lot == "A"


def test_lot_overview_counts_yields_rate_and_failures(filled: Registry) -> None:
    a = filled.lot_overview("A")
    assert (a.devices, a.passed, a.failed, a.attempts, a.first_pass, a.running) == (20, 20, 0, 24, 16, 0)
    assert a.first_pass_yield == pytest.approx(0.8) and a.final_yield == 1.0
    assert a.failures_by_step == [("battery", 4)]
    # 24 attempts of 30 s, back to back: 20 devices in 23.5 minutes
    assert a.devices_per_hour == pytest.approx(20 / ((24 * 2 - 1) * 30 / 3600))
    page = filled.lot_overviews(limit=1)
    assert [lot.name for lot in page.rows] == ["B"] and page.next is not None
    assert [lot.name for lot in filled.lot_overviews(after=page.next).rows] == ["A"]


def test_outbox_page_has_timestamps_and_filters(filled: Registry) -> None:
    rows = all_pages(lambda **kw: filled.outbox_page(state="pending", **kw), limit=4)
    assert len(rows) == 30 and [r.id for r in rows] == sorted(r.id for r in rows)
    assert all(r.created_at and r.next_try_at and r.target == "particle" and r.done_at is None for r in rows)
    assert [r.device_id for r in filled.outbox_page(text="SN-0003").rows] == ["e00fce680000000000000003"]


def test_device_detail_has_every_attempt_with_its_records(filled: Registry) -> None:
    d = filled.device_detail("e00fce680000000000000005")
    assert d is not None and d.serial_number == "SN-0005" and d.lot == "A"
    assert [x.row.outcome for x in d.attempts] == ["failed", "passed"]
    assert d.attempts[0].measurements[0]["passed"] is False and d.attempts[0].steps[0]["name"] == "flash"
    assert [c.state for c in d.cloud] == ["pending"]
    assert filled.device_detail("e00fce68ffffffffffffffff") is None


def test_a_station_error_counts_as_an_error_not_a_failed_unit(registry: Registry) -> None:
    """Issue 12: a pulled probe is stored ``failed`` with fault ``probe-gone``; the lot figures must
    not count it as a failed unit, and the first-pass yield is over the units that were judged."""
    pid = registry.ensure_product(name="widget", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="aa" * 32, content="x")
    lot = registry.ensure_lot("E", product_id=pid)
    ends = [("passed", None, None), ("failed", "battery", None), ("failed", "battery", "device-gone"),
            ("failed", "flash", "probe-gone"), ("failed", "register", "registry-unavailable"),
            ("failed", "battery", None)]  # NULL: a row older than 0004
    for i, (outcome, step, fault) in enumerate(ends):
        did = f"e00fce68{i:016x}"
        a = registry.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="st",
                                   slot="1", operator="ana", transport="swd", overrides=[])
        if outcome == "passed":
            registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)
        else:
            registry.finish_attempt(a, outcome=outcome, failing_step=step, reason="r", fault=fault or None)
    o = registry.lot_overview("E")
    assert (o.devices, o.passed, o.failed, o.errors, o.first_pass) == (6, 1, 3, 2, 1)
    assert o.failures_by_step == [("battery", 3)]  # the probe and the outage are not the unit's failures
    assert o.first_pass_yield == pytest.approx(1 / 4)
    # the unit behind the pulled probe is run again and passes: it is a passed unit, no error left
    a = registry.start_attempt(device_id=f"e00fce68{3:016x}", platform="boron", lot_id=lot, profile_id=prof,
                               station="st", slot="1", operator="ana", transport="swd", overrides=[])
    registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD)
    o = registry.lot_overview("E")
    assert (o.passed, o.failed, o.errors) == (2, 3, 1)


def test_an_attempt_its_station_left_running_is_a_station_error(registry: Registry) -> None:
    """A station or slot worker killed mid-device: its attempt is closed as abandoned with fault
    ``station-stopped``, a station error in the lot figures (GUI and ``lot report``), not a failed unit."""
    from station.ftest.report import lot_report

    pid = registry.ensure_product(name="widget", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="aa" * 32, content="x")
    lot = registry.ensure_lot("K", product_id=pid)
    for i in range(2):
        a = registry.start_attempt(device_id=f"e00fce68{i:016x}", platform="boron", lot_id=lot, profile_id=prof,
                                   station="st", slot="1", operator="ana", transport="swd", overrides=[])
        if i == 0:
            registry.finish_attempt(a, outcome="failed", failing_step="battery", reason="low")
    assert registry.close_abandoned_attempts("st") == 1  # no live owner: the station stopped
    o, rep = registry.lot_overview("K"), lot_report(registry, "K")
    assert (o.devices, o.failed, o.errors) == (rep.devices, rep.failed, rep.errors) == (2, 1, 1)
    assert o.failures_by_step == [("battery", 1)] and rep.failures_by_step == [("battery", 1)]
