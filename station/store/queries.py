"""Read-side queries: lot summaries, manifest rows, report inputs.

Each function takes an open session and issues a small, fixed number of statements (never one per
device) so a 100,000-device lot exports in about a second. A device's result in a lot is its
*latest* attempt in that lot: a board that failed, was reworked and passed counts as passed.

A device belongs to one lot at a time (``Device.lot_id``, set by its registration). When a
device that passed in lot A is re-provisioned into lot B, lot A keeps its history but no longer
claims it as shipped: its passed manifest and ``passed`` count leave it out, and ``--all`` shows
its row as ``reprovisioned`` without version columns (the registry keeps only the device's
current versions, which are lot B's).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, null, select
from sqlalchemy.orm import Session

from station.domain import Outcome
from station.store.models import Attempt, Device, Label, Lot, Measurement, OutboxRow, Product, Step
from station.store.records import (
    AttemptRecord,
    DeviceAttempt,
    DeviceRecord,
    LotSummary,
    ManifestRow,
    StoredMeasurement,
)

STREAM_CHUNK = 5000


#: A skipped attempt is a re-scan of a device the registry already had done: it is kept in the
#: history but never stands for the device's result (else a second scan would hide a passed device).
_COUNTS = Attempt.outcome != Outcome.SKIPPED.value

#: ``test_result`` of a device that passed in a lot and was later registered into another lot.
REPROVISIONED = "reprovisioned"


def _latest_per_device() -> Any:
    return (select(Attempt.lot_id, Attempt.device_id, func.max(Attempt.id).label("aid"))
            .where(_COUNTS).group_by(Attempt.lot_id, Attempt.device_id).subquery("latest"))


def lot_summaries(s: Session, name: str | None = None) -> list[LotSummary]:
    latest = _latest_per_device()
    passed = Attempt.outcome == Outcome.PASSED.value
    here = Device.lot_id == latest.c.lot_id
    stats = (select(latest.c.lot_id,
                    func.count().label("devices"),
                    func.sum(case((and_(passed, here), 1), else_=0)).label("passed"),
                    func.sum(case((Attempt.outcome.in_([Outcome.FAILED.value, Outcome.CANCELLED.value]), 1),
                                  else_=0)).label("failed"),
                    func.sum(case((and_(passed, ~here), 1), else_=0)).label("moved"))
             .join(Attempt, Attempt.id == latest.c.aid)
             .join(Device, Device.device_id == latest.c.device_id)
             .group_by(latest.c.lot_id).subquery("stats"))
    q = (select(Lot.id, Lot.name, Product.name, Product.id, Lot.created_at,
                func.coalesce(stats.c.devices, 0), func.coalesce(stats.c.passed, 0),
                func.coalesce(stats.c.failed, 0), func.coalesce(stats.c.moved, 0))
         .join(Product, Product.id == Lot.product_id)
         .outerjoin(stats, stats.c.lot_id == Lot.id)
         .order_by(Lot.created_at, Lot.id))
    if name is not None:
        q = q.where(Lot.name == name)
    return [LotSummary(id=r[0], name=r[1], product=r[2], product_id=r[3], created=r[4], devices=int(r[5]),
                       passed=int(r[6]), failed=int(r[7]), reprovisioned=int(r[8])) for r in s.execute(q)]


def _manifest_query(lot_id: int, include_failed: bool) -> Select:  # type: ignore[type-arg]
    latest = (select(Attempt.device_id, func.max(Attempt.id).label("aid"))
              .where(Attempt.lot_id == lot_id, _COUNTS).group_by(Attempt.device_id).subquery("latest"))
    passed = Attempt.outcome == Outcome.PASSED.value
    # Passed here, but registered in another lot since (Device.lot_id is set by every registration).
    moved = and_(passed, Device.lot_id.is_distinct_from(lot_id))
    q = (select(Attempt.device_id, Device.serial_number, Device.platform, Product.name,
                case((moved, null()), else_=Device.device_os_version),
                case((moved, null()), else_=Device.product_firmware_version),
                case((moved, literal(REPROVISIONED)), else_=Attempt.outcome),
                Attempt.finished_at, Attempt.station, Attempt.operator, Device.iccid, Device.imei, Attempt.id)
         .join(latest, Attempt.id == latest.c.aid)
         .join(Device, Device.device_id == Attempt.device_id)
         .join(Lot, Lot.id == Attempt.lot_id)
         .join(Product, Product.id == Lot.product_id)
         .order_by(Attempt.device_id))
    if not include_failed:
        q = q.where(passed, Device.lot_id == lot_id)
    return q


def manifest_rows(s: Session, lot_id: int, *, include_failed: bool) -> Iterator[ManifestRow]:
    # Core execution on the session's connection: ORM row processing would double the export time
    conn = s.connection()
    result = conn.execute(_manifest_query(lot_id, include_failed).execution_options(yield_per=STREAM_CHUNK))
    for r in result:
        yield ManifestRow(*r)


def attempt_details(s: Session, lot_id: int) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Steps and measurements of every attempt in a lot, keyed by attempt id (for the JSON manifest)."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    steps = (select(Step.attempt_id, Step.name, Step.outcome, Step.duration_s, Step.reason, Step.details)
             .join(Attempt, Attempt.id == Step.attempt_id).where(Attempt.lot_id == lot_id).order_by(Step.id))
    for aid, name, outcome, dur, reason, details in s.execute(steps):
        out.setdefault(aid, {"steps": [], "measurements": []})["steps"].append(
            {"name": name, "outcome": outcome, "duration_s": dur, "reason": reason, "details": details})
    meas = (select(Measurement).join(Attempt, Attempt.id == Measurement.attempt_id)
            .where(Attempt.lot_id == lot_id).order_by(Measurement.id))
    for m in s.scalars(meas):
        out.setdefault(m.attempt_id, {"steps": [], "measurements": []})["measurements"].append(
            {"step": m.step, "name": m.name, "value": m.value_num, "text": m.value_text, "unit": m.unit,
             "low": m.low, "high": m.high, "expected": m.expected, "regex": m.regex, "passed": m.passed,
             "duration_s": m.duration_s, "try": m.try_number})
    return out


def lot_attempts(s: Session, lot_id: int) -> list[AttemptRecord]:
    q = (select(Attempt.id, Attempt.device_id, Attempt.started_at, Attempt.outcome, Attempt.failing_step)
         .where(Attempt.lot_id == lot_id).order_by(Attempt.id))
    return [AttemptRecord(attempt_id=r[0], device_id=r[1], started_at=r[2], outcome=r[3], failing_step=r[4])
            for r in s.execute(q)]


def lot_measurements(s: Session, lot_id: int) -> list[StoredMeasurement]:
    q = (select(Measurement.attempt_id, Measurement.device_id, Measurement.step, Measurement.name,
                Measurement.value_num, Measurement.value_text, Measurement.unit, Measurement.passed,
                Measurement.try_number)
         .join(Attempt, Attempt.id == Measurement.attempt_id).where(Attempt.lot_id == lot_id)
         .order_by(Measurement.id))
    return [StoredMeasurement(attempt_id=r[0], device_id=r[1], step=r[2], name=r[3], value=r[4], text=r[5],
                              unit=r[6], passed=bool(r[7]), try_number=r[8]) for r in s.execute(q)]


def peridio_targets(s: Session, lot_id: int) -> dict[int, dict[str, Any]]:
    q = (select(OutboxRow.attempt_id, OutboxRow.payload).join(Attempt, Attempt.id == OutboxRow.attempt_id)
         .where(Attempt.lot_id == lot_id, OutboxRow.target == "peridio"))
    return {aid: dict(payload) for aid, payload in s.execute(q)}


def device_record(s: Session, device_id: str) -> DeviceRecord | None:
    """A device, its attempts in order, its labels and its cloud entries (None if never seen)."""
    dev = s.get(Device, device_id)
    if dev is None:
        return None
    product = s.get(Product, dev.product_id).name if dev.product_id else None  # type: ignore[union-attr]
    lot = s.get(Lot, dev.lot_id).name if dev.lot_id else None  # type: ignore[union-attr]
    q = (select(Attempt.id, Lot.name, Product.name, Attempt.station, Attempt.slot, Attempt.operator,
                Attempt.transport, Attempt.started_at, Attempt.finished_at, Attempt.outcome,
                Attempt.failing_step, Attempt.reason)
         .join(Lot, Lot.id == Attempt.lot_id).join(Product, Product.id == Lot.product_id)
         .where(Attempt.device_id == device_id).order_by(Attempt.id))
    attempts = [
        DeviceAttempt(attempt_id=r[0], lot=r[1], product=r[2], station=r[3], slot=r[4], operator=r[5],
                      transport=r[6], started_at=r[7], finished_at=r[8], outcome=r[9], failing_step=r[10],
                      reason=r[11])
        for r in s.execute(q)
    ]
    labels = list(s.scalars(select(Label.path).where(Label.device_id == device_id).order_by(Label.id)))
    cloud: list[dict[str, object]] = [{"target": t, "stage": st, "state": state, "last_error": err}
             for t, st, state, err in s.execute(
                 select(OutboxRow.target, OutboxRow.stage, OutboxRow.state, OutboxRow.last_error)
                 .where(OutboxRow.device_id == device_id).order_by(OutboxRow.id))]
    return DeviceRecord(
        device_id=dev.device_id, platform=dev.platform, product=product, lot=lot,
        registered_at=dev.registered_at, serial_number=dev.serial_number, imei=dev.imei, iccid=dev.iccid,
        device_os_version=dev.device_os_version, product_firmware_version=dev.product_firmware_version,
        attempts=attempts, labels=labels, cloud=cloud,
    )
