"""Lot report: yields, failure Pareto and measurement statistics, and agreement with the registry."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from station.ftest.report import compute_lot_report, lot_report
from station.store import open_registry
from station.store.records import AttemptRecord, CloudTargets, MeasurementRecord, StoredMeasurement

T0 = datetime(2026, 3, 1, 8, 0)


def att(i: int, did: str, outcome: str, step: str | None = None) -> AttemptRecord:
    return AttemptRecord(attempt_id=i, device_id=did, started_at=T0 + timedelta(minutes=i), outcome=outcome,
                         failing_step=step)


def meas(did: str, name: str, value: float | None, unit: str = "V", text: str | None = None) -> StoredMeasurement:
    return StoredMeasurement(attempt_id=1, device_id=did, step="test", name=name, value=value, text=text, unit=unit,
                             passed=True, try_number=1)


def test_yields_and_pareto() -> None:
    attempts = [
        att(1, "a", "passed"),
        att(2, "b", "failed", "test"), att(3, "b", "passed"),       # reworked: final pass, not first pass
        att(4, "c", "failed", "flash"), att(5, "c", "failed", "test"),
        att(6, "d", "failed", "test"),
        att(7, "e", "running"),                                     # in flight: not counted
    ]
    rep = compute_lot_report(attempts, [])
    assert (rep.devices, rep.attempts, rep.first_pass, rep.final_pass) == (4, 6, 1, 2)
    assert rep.first_pass_yield == pytest.approx(0.25) and rep.final_yield == pytest.approx(0.5)
    assert rep.failures_by_step == [("test", 3), ("flash", 1)]
    assert [(r["share"], r["cumulative"]) for r in rep.pareto()] == [(0.75, 0.75), (0.25, 1.0)]


def test_measurement_stats_numeric_only() -> None:
    ms = [meas("a", "vbat", 3.6), meas("b", "vbat", 3.8), meas("c", "vbat", 4.0),
          meas("a", "fw", None, unit="", text="5.3.2"), meas("a", "current", 12.5, unit="mA")]
    rep = compute_lot_report([], ms)
    by = {(m.step, m.name): m for m in rep.measurements}
    assert set(by) == {("test", "vbat"), ("test", "current")}
    v = by[("test", "vbat")]
    assert (v.count, v.unit, v.min, v.max) == (3, "V", 3.6, 4.0) and v.mean == pytest.approx(3.8)


def test_devices_per_hour_spans_first_start_to_last_finish() -> None:
    attempts = [AttemptRecord(attempt_id=i + 1, device_id=f"d{i}", started_at=T0 + timedelta(minutes=30 * i),
                              outcome="passed", failing_step=None, finished_at=T0 + timedelta(minutes=30 * i + 20))
                for i in range(4)]  # 4 devices from 08:00 to 09:50
    rep = compute_lot_report(attempts, [])
    assert rep.devices_per_hour == pytest.approx(4 / (110 / 60))
    assert rep.to_dict()["devices_per_hour"] == rep.devices_per_hour


def test_empty_lot_has_no_yield() -> None:
    rep = compute_lot_report([], [])
    assert rep.first_pass_yield is None and rep.to_dict()["devices"] == 0


def test_report_matches_stored_measurements(tmp_path: Path) -> None:
    reg = open_registry(f"sqlite:///{tmp_path / 'r.db'}")
    pid = reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="0f" * 32, content="x")
    lot = reg.ensure_lot("R1", product_id=pid)
    values = [3.3 + 0.01 * i for i in range(25)]
    for i, v in enumerate(values):
        a = reg.start_attempt(device_id=f"e00fce68{i:016x}", platform="boron", lot_id=lot, profile_id=prof,
                              station="s", slot="1", operator="o", transport="swd", overrides=[])
        reg.record_measurement(a, MeasurementRecord(step="power", name="vbat", passed=v >= 3.35, value=v, unit="V"))
        if v >= 3.35:
            reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets())
        else:
            reg.finish_attempt(a, outcome="failed", failing_step="power", reason="vbat low")
    rep = compute_lot_report(reg.lot_attempts("R1"), reg.lot_measurements("R1"))
    (m,) = rep.measurements
    assert m.count == 25 and m.mean == pytest.approx(statistics.mean(values))
    assert (m.min, m.max) == (pytest.approx(min(values)), pytest.approx(max(values)))
    low = sum(1 for v in values if v < 3.35)
    assert rep.failures_by_step == [("power", low)] and rep.final_pass == 25 - low
    reg.close()


def _lot(tmp_path: Path) -> tuple[object, int, int, int]:
    reg = open_registry(f"sqlite:///{tmp_path / 'r.db'}")
    pid = reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="0f" * 32, content="x")
    return reg, pid, prof, reg.ensure_lot("R1", product_id=pid)


def test_yields_follow_the_attempt_sequence_after_the_clock_steps_back(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 item 12: a failed first attempt stays the first even when the station clock stepped
    back before the rework, in the SQL report and in the pure one."""
    import station.store.attempts as attempts_mod

    reg, pid, prof, lot = _lot(tmp_path)
    clock = iter([T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=1),   # first try: fails
                  T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)])      # clock stepped back 2 h
    monkeypatch.setattr(attempts_mod, "utcnow", lambda: next(clock))
    did = "e00fce68" + "0" * 16
    a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="s", slot="1",
                          operator="o", transport="swd", overrides=[])
    reg.finish_attempt(a, outcome="failed", failing_step="battery", reason="low")
    b = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="s", slot="1",
                          operator="o", transport="swd", overrides=[])
    reg.register_passed(b, product_id=pid, lot_id=lot, cloud=CloudTargets())
    records = reg.lot_attempts("R1")
    assert records[1].started_at < records[0].started_at  # the precondition: wall clock went backwards
    for rep in (lot_report(reg, "R1"), compute_lot_report(records, [])):
        assert (rep.devices, rep.first_pass, rep.final_pass) == (1, 0, 1)
        assert rep.first_pass_yield == 0.0 and rep.final_yield == 1.0
    reg.close()


def test_sql_report_equals_the_pure_definition(tmp_path: Path) -> None:
    """The database aggregation and the record-level definition agree on a mixed lot."""
    reg, pid, prof, lot = _lot(tmp_path)
    plans = ["p", "fp", "ff", "f", "p", "r", "sp", "fsp"]  # p pass, f fail, s skipped, r still running
    for i, plan in enumerate(plans):
        did = f"e00fce68{i:016x}"
        for k, o in enumerate(plan):
            a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="s",
                                  slot="1", operator="o", transport="swd", overrides=[])
            unit = "V" if i % 3 else "mV"
            reg.record_measurement(a, MeasurementRecord(step="power", name="vbat", passed=o == "p",
                                                        value=3.0 + i / 10 + k / 100, unit=unit))
            reg.record_measurement(a, MeasurementRecord(step="fw", name="version", passed=True, text="6.2.0"))
            if o == "p":
                reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets())
            elif o == "f":
                reg.finish_attempt(a, outcome="failed", failing_step="power" if i % 2 else None, reason="x")
            elif o == "s":
                reg.finish_attempt(a, outcome="skipped", failing_step=None, reason="done")
    sql = lot_report(reg, "R1")
    pure = compute_lot_report(reg.lot_attempts("R1"), reg.lot_measurements("R1"))
    assert (sql.devices, sql.attempts, sql.first_pass, sql.final_pass) == \
        (pure.devices, pure.attempts, pure.first_pass, pure.final_pass) == (7, 10, 3, 5)
    assert sql.failures_by_step == pure.failures_by_step
    assert len(sql.measurements) == len(pure.measurements) == 1
    s, p = sql.measurements[0], pure.measurements[0]
    assert (s.step, s.name, s.unit, s.count, s.min, s.max) == (p.step, p.name, p.unit, p.count, p.min, p.max)
    assert s.mean == pytest.approx(p.mean)
    reg.close()
