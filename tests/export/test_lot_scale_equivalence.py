"""The lot report aggregated in SQL and the json export streamed in attempt order say what the
record-level definitions say, on SQLite and PostgreSQL.

The record-level definitions are the ones the station used before it worked at lot scale: the
report computed in Python over every attempt and measurement (``compute_lot_report``), and the
json manifest built from every attempt's steps and measurements loaded into one dict
(``Registry.attempt_details``). The lot has what breaks a streaming merge or an aggregate:
retries, failures with and without a step, a re-scan, an attempt still running, a device that
left for another lot, attempts with no steps or no measurements, and a station clock that
stepped back two hours between a failed try and its rework.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import station.store.attempts as attempts_mod
from station.export.manifest import export_lot, row_fields
from station.ftest.report import compute_lot_report, lot_report
from station.store import Registry, open_registry
from station.store.records import CloudTargets, DeviceIdentity, FlashRecord, MeasurementRecord

T0 = datetime(2026, 3, 1, 8, 0)
CLOUD = CloudTargets(particle_product="widget-1")


class SteppingClock:
    """The station's wall clock: 30 s per reading, and it can be set back."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=30)
        return self.now


def _attempt(reg: Registry, did: str, lot: int, prof: int, plan: str, k: int) -> int:
    a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="st1",
                          slot=str(k % 3), operator="ana", transport="swd", overrides=[])
    if "n" in plan:  # an attempt that stopped before its first step: no steps, no measurements
        return a
    started = datetime.now(UTC)
    reg.record_step(a, name="connect", started_at=started, duration_s=0.61, outcome="passed",
                    details={"probe": "SIM1", "tries": [1, 2]})
    reg.record_step(a, name="flash", started_at=started, duration_s=1.25, outcome="passed",
                    details={"bytes_written": 786432, "erase_s": 0.1 + 0.2, "modules": ["bootloader v2300"]})
    reg.record_flashes(a, [FlashRecord(module_sha256="ab" * 32, function=2, index=0, version=2300, address=4096,
                                       role="bootloader")])
    ok = plan[k] == "p"
    reg.record_measurement(a, MeasurementRecord(step="power", name="vbat", passed=ok, value=3.7 + k / 100 if ok
                                                else 2.9, unit="V", low=3.5, high=4.3, expected="3.50..4.30 V"))
    reg.record_measurement(a, MeasurementRecord(step="power", name="current", passed=True, value=12.5 + k,
                                                unit="mA" if k % 2 else "uA", duration_s=0.004))
    reg.record_measurement(a, MeasurementRecord(step="fw", name="version", passed=True, text="6.2.0",
                                                expected="6.2.0", regex=r"^6\.", try_number=2))
    reg.record_step(a, name="functional-tests", started_at=started, duration_s=0.28,
                    outcome="passed" if ok else "failed", reason=None if ok else "vbat 2.9 V outside 3.50..4.30 V",
                    details=None)
    return a


def build_lot(reg: Registry, clock: SteppingClock) -> None:
    pid = reg.ensure_product(name="widget", platform="boron", particle_product="widget-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="56" * 32, content="x")
    lot = reg.ensure_lot("L1", product_id=pid)
    other = reg.ensure_lot("L2", product_id=pid)
    # p passed, f failed at a step, x failed with no step recorded, s skipped re-scan, r still
    # running, n stopped before any step (then failed), m passed here and later in lot L2
    plans = ["p", "fp", "ff", "ps", "r", "xp", "nf", "m", "fffp", "p"]
    for i, plan in enumerate(plans):
        did = f"e00fce68{i:016x}"
        for k, o in enumerate(plan):
            if i == 1 and k == 1:
                clock.now -= timedelta(hours=2)  # the station clock stepped back before the rework
            a = _attempt(reg, did, lot, prof, plan if o != "n" else "n" + plan, k if o != "n" else 0)
            if o in "pm":
                reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CLOUD,
                                    identity=DeviceIdentity(serial_number=f"SN{i}", device_os_version="6.2.0",
                                                            product_firmware_version="7"))
                reg.record_label(did, a, path=f"labels/{did}.png", fmt="png")
                reg.end_attempt(a)
            elif o in "fxn":
                reg.finish_attempt(a, outcome="failed", failing_step="functional-tests" if o == "f" else None,
                                   reason="x")
            elif o == "s":
                reg.finish_attempt(a, outcome="skipped", failing_step=None, reason="already provisioned")
        if "m" in plan:
            a = _attempt(reg, did, other, prof, "p", 0)
            reg.register_passed(a, product_id=pid, lot_id=other, cloud=CLOUD)
            reg.end_attempt(a)


@pytest.fixture(params=["sqlite", "postgresql"])
def lot_registry(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Registry:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    clock = SteppingClock()
    monkeypatch.setattr(attempts_mod, "utcnow", clock)
    reg = open_registry(url)
    request.addfinalizer(reg.close)
    build_lot(reg, clock)
    return reg


def test_the_sql_report_is_the_record_level_report(lot_registry: Registry) -> None:
    reg = lot_registry
    records = reg.lot_attempts("L1")
    retry = [r for r in records if r.device_id == f"e00fce68{1:016x}"]
    assert retry[1].started_at < retry[0].started_at  # the precondition: the clock went back
    sql = lot_report(reg, "L1")
    old = compute_lot_report(records, reg.lot_measurements("L1"))
    assert (sql.devices, sql.attempts, sql.first_pass, sql.final_pass) == \
        (old.devices, old.attempts, old.first_pass, old.final_pass) == (9, 16, 4, 7)
    assert sql.failures_by_step == old.failures_by_step == [("functional-tests", 7), ("(no step recorded)", 2)]
    assert [(m.step, m.name, m.unit, m.count, m.min, m.max) for m in sql.measurements] == \
        [(m.step, m.name, m.unit, m.count, m.min, m.max) for m in old.measurements]
    assert [m.mean for m in sql.measurements] == pytest.approx([m.mean for m in old.measurements])
    # devices per hour over the lot's wall-clock span (the step back makes the first try the earliest start)
    assert sql.devices_per_hour is not None and sql.devices_per_hour == pytest.approx(old.devices_per_hour)
    assert (sql.first_started, sql.last_finished) == (old.first_started, old.last_finished)
    assert sql.first_started == min(r.started_at for r in records)


def _record_level_manifest(reg: Registry, include_failed: bool) -> list[dict[str, object]]:
    """The json manifest's devices as the in-memory export built them, in attempt order."""
    details = reg.attempt_details("L1")
    rows = sorted(reg.manifest_rows("L1", include_failed=include_failed), key=lambda r: r.attempt_id)
    return [{**row_fields(r), "attempt_id": r.attempt_id,
             **details.get(r.attempt_id, {"steps": [], "measurements": []})} for r in rows]


@pytest.mark.parametrize("include_all", [False, True])
def test_the_streamed_json_export_is_the_record_level_manifest(lot_registry: Registry, tmp_path: Path,
                                                               include_all: bool) -> None:
    reg = lot_registry
    out = tmp_path / "l1.json"
    result = export_lot(reg, "L1", "json", out, include_all=include_all)
    devices = json.loads(out.read_text())["devices"]
    expected = _record_level_manifest(reg, include_all)
    assert devices == expected and result.devices == len(expected)
    results = {d["device_id"]: d["test_result"] for d in devices}
    if include_all:
        assert sorted(results.values()) == ["failed"] * 2 + ["passed"] * 6 + ["reprovisioned", "running"]
        assert results[f"e00fce68{6:016x}"] == "failed"  # its only real attempt had no steps at all
    else:
        assert set(results.values()) == {"passed"} and len(results) == 6
    # every attempt's own details, none of its failed tries'
    retried = next(d for d in devices if d["device_id"] == f"e00fce68{8:016x}")
    assert [m["value"] for m in retried["measurements"] if m["name"] == "vbat"] == [3.73]


def test_an_export_abandoned_midway_leaves_nothing_running(lot_registry: Registry,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that stops after one device (a full disk, an interrupted command) closes its
    cursors and stops their prefetch threads (PostgreSQL), which are then blocked mid-lot."""
    import threading

    import station.store.queries as queries

    monkeypatch.setattr(queries, "STREAM_CHUNK", 1)  # one row per fetch: the streams are mid-lot
    before = threading.active_count()
    rows = lot_registry.iter_manifest_details("L1", include_failed=True)
    first, (steps, _measurements) = next(rows)
    assert first.device_id == f"e00fce68{0:016x}" and [s[0] for s in steps] == ["connect", "flash",
                                                                                 "functional-tests"]
    rows.close()
    assert threading.active_count() == before
    assert len(list(lot_registry.iter_manifest_details("L1"))) == 6  # the registry still answers
