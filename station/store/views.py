"""Read models for tables: paged, filtered views a front end calls from a worker thread.

Every function takes an open read session and returns plain frozen records. The registry opens
one short read-only session per call (SQLite readers never take the write lock), so a GUI may call
these from any worker thread while slots are registering devices.

Paging is keyset, never ``OFFSET``: a page is "the next ``limit`` rows after this cursor" in the
order of an index (attempts newest first by ``attempts.id``, the registry's sequence; outbox
entries in queue order), so page 500 of a 100,000-device registry costs what page 1 costs. A
cursor is the last row's id; ``Page.next`` is ``None`` on the last page.

Text search matches a device ID (any part, case-insensitive; IDs are stored lowercase) or a
serial number (any part, as printed). It scans the devices table once (about 100k short rows),
then fetches attempts by device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from station.domain import STATION_FAULTS, Outcome
from station.store.models import (
    Attempt,
    AuditEntry,
    Device,
    Flash,
    Label,
    Lot,
    Measurement,
    OutboxRow,
    Product,
    Step,
)

T = TypeVar("T")
MAX_PAGE = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next: int | None  # cursor for the following page; None: this was the last


@dataclass(frozen=True)
class AttemptFilter:
    """What a history table filters on; every field optional. ``outcome`` may name several."""

    lot: str | None = None
    station: str | None = None
    outcome: str | tuple[str, ...] | None = None
    started_from: datetime | None = None  # naive UTC, inclusive
    started_to: datetime | None = None  # naive UTC, exclusive
    text: str | None = None  # part of a device ID or serial number
    device_id: str | None = None


@dataclass(frozen=True)
class AttemptRow:
    attempt_id: int
    device_id: str
    serial_number: str | None
    lot: str
    product: str
    station: str
    slot: str
    operator: str
    transport: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    failing_step: str | None
    reason: str | None

    @property
    def duration_s(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


@dataclass(frozen=True)
class OutboxView:
    """One cloud entry with its real timestamps and its own reason (the cloud's last answer)."""

    id: int
    device_id: str
    attempt_id: int
    target: str
    stage: str
    state: str
    tries: int
    created_at: datetime
    next_try_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    done_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class LotOverview:
    """A lot as a table row: counts, yields, rate and failures by step.

    ``devices`` have a finished attempt in the lot; ``passed``/``failed`` count them by their
    latest finished attempt (a yield view: a device re-provisioned into another lot since still
    passed here). ``devices_per_hour``: devices per hour between the lot's first attempt start
    and its last attempt finish (None until there is a span to divide by).
    """

    id: int
    name: str
    product: str
    created: datetime
    devices: int
    passed: int
    failed: int
    attempts: int
    first_pass: int
    running: int
    first_started: datetime | None
    last_finished: datetime | None
    failures_by_step: list[tuple[str | None, int]] = field(default_factory=list)
    #: devices whose latest attempt ended in a station error (``STATION_FAULTS``): not in ``failed``
    errors: int = 0

    @property
    def first_pass_yield(self) -> float | None:
        """First passes over the judged devices: a unit whose run hit a station error was never judged."""
        judged = self.devices - self.errors
        return self.first_pass / judged if judged > 0 else None

    @property
    def final_yield(self) -> float | None:
        return self.passed / self.devices if self.devices else None

    @property
    def devices_per_hour(self) -> float | None:
        if not self.first_started or not self.last_finished or not self.devices:
            return None
        hours = (self.last_finished - self.first_started).total_seconds() / 3600
        return self.devices / hours if hours > 0 else None


@dataclass(frozen=True)
class DeviceHit:
    device_id: str
    serial_number: str | None
    product: str | None
    lot: str | None
    registered_at: datetime | None


@dataclass(frozen=True)
class AttemptDetail:
    row: AttemptRow
    steps: list[dict[str, Any]]
    measurements: list[dict[str, Any]]
    flashes: list[dict[str, Any]]
    labels: list[dict[str, Any]]


@dataclass(frozen=True)
class DeviceDetail:
    """Everything about one device a scanned label opens: identity, every attempt with its steps,
    measurements, flashed modules and labels, its cloud entries and its audit entries."""

    device_id: str
    platform: str | None
    product: str | None
    lot: str | None
    registered_at: datetime | None
    serial_number: str | None
    imei: str | None
    iccid: str | None
    device_os_version: str | None
    product_firmware_version: str | None
    attempts: list[AttemptDetail]
    cloud: list[OutboxView]
    audit: list[dict[str, Any]]


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    action: str
    operator: str
    station: str
    device_id: str | None
    role: str | None
    granted: bool | None
    reason: str | None
    details: dict[str, Any] | None


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matching_devices(text: str) -> Any:
    t = text.strip()
    return select(Device.device_id).where(or_(Device.device_id.like(_like(t.lower()), escape="\\"),
                                              Device.serial_number.like(_like(t), escape="\\")))


def _attempt_columns() -> tuple[Any, ...]:
    return (Attempt.id, Attempt.device_id, Device.serial_number, Lot.name, Product.name, Attempt.station,
            Attempt.slot, Attempt.operator, Attempt.transport, Attempt.started_at, Attempt.finished_at,
            Attempt.outcome, Attempt.failing_step, Attempt.reason)


def _attempt_query() -> Select:  # type: ignore[type-arg]
    return (select(*_attempt_columns())
            .join(Device, Device.device_id == Attempt.device_id)
            .join(Lot, Lot.id == Attempt.lot_id)
            .join(Product, Product.id == Lot.product_id))


def _attempt_row(r: Any) -> AttemptRow:
    return AttemptRow(*r)


def attempts_page(s: Session, f: AttemptFilter, *, after: int | None, limit: int) -> Page[AttemptRow]:
    """Attempts matching ``f``, newest first (by sequence), ``limit`` after cursor ``after``."""
    q = _attempt_query()
    if f.lot is not None:
        lot_id = s.scalar(select(Lot.id).where(Lot.name == f.lot))
        if lot_id is None:
            return Page([], None)
        q = q.where(Attempt.lot_id == lot_id)
    if f.station is not None:
        q = q.where(Attempt.station == f.station)
    if f.outcome:
        outcomes = (f.outcome,) if isinstance(f.outcome, str) else tuple(f.outcome)
        q = q.where(Attempt.outcome.in_(outcomes))
    if f.started_from is not None:
        q = q.where(Attempt.started_at >= f.started_from)
    if f.started_to is not None:
        q = q.where(Attempt.started_at < f.started_to)
    if f.device_id is not None:
        q = q.where(Attempt.device_id == f.device_id.strip().lower())
    if f.text and f.text.strip():
        q = q.where(Attempt.device_id.in_(_matching_devices(f.text)))
    if after is not None:
        q = q.where(Attempt.id < after)
    n = _limit(limit)
    rows = [_attempt_row(r) for r in s.execute(q.order_by(Attempt.id.desc()).limit(n + 1))]
    more = len(rows) > n
    rows = rows[:n]
    return Page(rows, rows[-1].attempt_id if more and rows else None)


def attempts_count(s: Session, f: AttemptFilter) -> int:
    """How many attempts match ``f`` (a count; costs a scan of the matching index range)."""
    q = select(func.count()).select_from(Attempt)
    if f.lot is not None:
        q = q.where(Attempt.lot_id == select(Lot.id).where(Lot.name == f.lot).scalar_subquery())
    if f.station is not None:
        q = q.where(Attempt.station == f.station)
    if f.outcome:
        q = q.where(Attempt.outcome.in_((f.outcome,) if isinstance(f.outcome, str) else tuple(f.outcome)))
    if f.started_from is not None:
        q = q.where(Attempt.started_at >= f.started_from)
    if f.started_to is not None:
        q = q.where(Attempt.started_at < f.started_to)
    if f.device_id is not None:
        q = q.where(Attempt.device_id == f.device_id.strip().lower())
    if f.text and f.text.strip():
        q = q.where(Attempt.device_id.in_(_matching_devices(f.text)))
    return int(s.scalar(q) or 0)


def _outbox_view(r: OutboxRow) -> OutboxView:
    return OutboxView(id=r.id, device_id=r.device_id, attempt_id=r.attempt_id, target=r.target, stage=r.stage,
                      state=r.state, tries=r.tries, created_at=r.created_at, next_try_at=r.next_try_at,
                      claimed_by=r.claimed_by, claimed_until=r.claimed_until, done_at=r.done_at,
                      last_error=r.last_error)


def outbox_page(s: Session, *, state: str | None, target: str | None, text: str | None, after: int | None,
                limit: int) -> Page[OutboxView]:
    """Outbox entries in queue order (oldest first), filtered by state, target and device text."""
    q = select(OutboxRow)
    if state:
        q = q.where(OutboxRow.state == state)
    if target:
        q = q.where(OutboxRow.target == target)
    if text and text.strip():
        q = q.where(OutboxRow.device_id.in_(_matching_devices(text)))
    if after is not None:
        q = q.where(OutboxRow.id > after)
    n = _limit(limit)
    rows = [_outbox_view(r) for r in s.scalars(q.order_by(OutboxRow.id).limit(n + 1))]
    more = len(rows) > n
    rows = rows[:n]
    return Page(rows, rows[-1].id if more and rows else None)


def lot_overviews(s: Session, *, names: list[str] | None = None, after: int | None = None,
                  limit: int = 100) -> Page[LotOverview]:
    """Lots newest first (by id) with their figures; each page aggregates only its own lots."""
    q = select(Lot.id, Lot.name, Product.name, Lot.created_at).join(Product, Product.id == Lot.product_id)
    if names is not None:
        q = q.where(Lot.name.in_(names))
    if after is not None:
        q = q.where(Lot.id < after)
    n = _limit(limit)
    lots = list(s.execute(q.order_by(Lot.id.desc()).limit(n + 1)))
    more = len(lots) > n
    lots = lots[:n]
    ids = [r[0] for r in lots]
    stats = _lot_stats(s, ids)
    out = [LotOverview(id=i, name=name, product=product, created=created, **stats.get(i, _EMPTY_STATS))
           for i, name, product, created in lots]
    return Page(out, out[-1].id if more and out else None)


_EMPTY_STATS: dict[str, Any] = {"devices": 0, "passed": 0, "failed": 0, "errors": 0, "attempts": 0, "first_pass": 0,
                                "running": 0, "first_started": None, "last_finished": None, "failures_by_step": []}


def _lot_stats(s: Session, lot_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not lot_ids:
        return {}
    finished = Attempt.outcome.notin_([Outcome.RUNNING.value, Outcome.SKIPPED.value])
    # the first *judged* attempt: a station error (a lost worker, a pulled probe) judged nothing
    judged_id = case((Attempt.fault.in_(STATION_FAULTS) & (Attempt.outcome == Outcome.FAILED.value), None),
                     else_=Attempt.id)
    ends = (select(Attempt.lot_id, Attempt.device_id, func.min(judged_id).label("first"),
                   func.max(Attempt.id).label("last"))
            .where(Attempt.lot_id.in_(lot_ids), finished)
            .group_by(Attempt.lot_id, Attempt.device_id).subquery("ends"))
    first, last = Attempt.__table__.alias("first_a"), Attempt.__table__.alias("last_a")
    passed = Outcome.PASSED.value
    # NULL fault (nothing went, or a row older than 0004) is a judged end, as before the column
    last_error = last.c.fault.in_(STATION_FAULTS) & (last.c.outcome == Outcome.FAILED.value)
    out: dict[int, dict[str, Any]] = {}
    for lot_id, devices, first_pass, final_pass, failed, errors in s.execute(
            select(ends.c.lot_id, func.count(), func.sum(case((first.c.outcome == passed, 1), else_=0)),
                   func.sum(case((last.c.outcome == passed, 1), else_=0)),
                   func.sum(case((last_error, 0), (last.c.outcome != passed, 1), else_=0)),
                   func.sum(case((last_error, 1), else_=0)))
            .select_from(ends).outerjoin(first, first.c.id == ends.c.first).join(last, last.c.id == ends.c.last)
            .group_by(ends.c.lot_id)):
        out[lot_id] = dict(_EMPTY_STATS, devices=int(devices), first_pass=int(first_pass or 0),
                           passed=int(final_pass or 0), failed=int(failed or 0), errors=int(errors or 0),
                           failures_by_step=[])
    for lot_id, attempts, running, t0, t1 in s.execute(
            select(Attempt.lot_id, func.sum(case((finished, 1), else_=0)),
                   func.sum(case((Attempt.outcome == Outcome.RUNNING.value, 1), else_=0)),
                   func.min(Attempt.started_at), func.max(Attempt.finished_at))
            .where(Attempt.lot_id.in_(lot_ids)).group_by(Attempt.lot_id)):
        d = out.setdefault(lot_id, dict(_EMPTY_STATS, failures_by_step=[]))
        d.update(attempts=int(attempts or 0), running=int(running or 0), first_started=t0, last_finished=t1)
    for lot_id, step, count in s.execute(
            select(Attempt.lot_id, Attempt.failing_step, func.count())
            .where(Attempt.lot_id.in_(lot_ids), Attempt.outcome == Outcome.FAILED.value,
                   or_(Attempt.fault.is_(None), Attempt.fault.notin_(STATION_FAULTS)))
            .group_by(Attempt.lot_id, Attempt.failing_step)):
        out[lot_id]["failures_by_step"].append((step, int(count)))
    for d in out.values():
        d["failures_by_step"].sort(key=lambda kv: (-kv[1], kv[0] or ""))
    return out


def find_devices(s: Session, text: str, *, limit: int = 50) -> list[DeviceHit]:
    """Devices whose ID or serial contains ``text``; an exact ID or serial comes first."""
    t = text.strip()
    if not t:
        return []
    exact = or_(Device.device_id == t.lower(), Device.serial_number == t)
    q = (select(Device.device_id, Device.serial_number, Product.name, Lot.name, Device.registered_at)
         .outerjoin(Product, Product.id == Device.product_id).outerjoin(Lot, Lot.id == Device.lot_id)
         .where(Device.device_id.in_(_matching_devices(t)))
         .order_by(case((exact, 0), else_=1), Device.device_id).limit(_limit(limit)))
    return [DeviceHit(*r) for r in s.execute(q)]


def device_detail(s: Session, device_id: str) -> DeviceDetail | None:
    dev = s.get(Device, device_id)
    if dev is None:
        return None
    product = s.scalar(select(Product.name).where(Product.id == dev.product_id)) if dev.product_id else None
    lot = s.scalar(select(Lot.name).where(Lot.id == dev.lot_id)) if dev.lot_id else None
    rows = [_attempt_row(r) for r in s.execute(_attempt_query().where(Attempt.device_id == device_id)
                                                   .order_by(Attempt.id))]
    ids = [r.attempt_id for r in rows]
    steps: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    meas: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    flashes: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    labels: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for st in s.scalars(select(Step).where(Step.attempt_id.in_(ids)).order_by(Step.id)):
        steps[st.attempt_id].append({"name": st.name, "started_at": st.started_at, "duration_s": st.duration_s,
                                     "outcome": st.outcome, "reason": st.reason, "details": st.details})
    for m in s.scalars(select(Measurement).where(Measurement.attempt_id.in_(ids)).order_by(Measurement.id)):
        meas[m.attempt_id].append({"step": m.step, "name": m.name, "value": m.value_num, "text": m.value_text,
                                   "unit": m.unit, "low": m.low, "high": m.high, "expected": m.expected,
                                   "regex": m.regex, "passed": m.passed, "duration_s": m.duration_s,
                                   "try": m.try_number})
    for fl in s.scalars(select(Flash).where(Flash.attempt_id.in_(ids)).order_by(Flash.id)):
        flashes[fl.attempt_id].append({"role": fl.role, "version": fl.version, "sha256": fl.module_sha256,
                                       "address": fl.address, "function": fl.function, "index": fl.module_index})
    loose: list[dict[str, Any]] = []
    for lb in s.scalars(select(Label).where(Label.device_id == device_id).order_by(Label.id)):
        item = {"path": lb.path, "format": lb.fmt, "printed_at": lb.printed_at, "attempt_id": lb.attempt_id}
        (labels[lb.attempt_id] if lb.attempt_id in labels else loose).append(item)
    attempts = [AttemptDetail(row=r, steps=steps[r.attempt_id], measurements=meas[r.attempt_id],
                              flashes=flashes[r.attempt_id], labels=labels[r.attempt_id]) for r in rows]
    if loose and attempts:
        attempts[-1].labels.extend(loose)  # reprints without an attempt belong to the latest
    cloud = [_outbox_view(r) for r in s.scalars(select(OutboxRow).where(OutboxRow.device_id == device_id)
                                                .order_by(OutboxRow.id))]
    audit = [{"at": a.at, "action": a.action, "operator": a.operator, "station": a.station, "role": a.role,
              "granted": a.granted, "reason": a.reason, "details": a.details}
             for a in s.scalars(select(AuditEntry).where(AuditEntry.device_id == device_id).order_by(AuditEntry.id))]
    return DeviceDetail(device_id=dev.device_id, platform=dev.platform, product=product, lot=lot,
                        registered_at=dev.registered_at, serial_number=dev.serial_number, imei=dev.imei,
                        iccid=dev.iccid, device_os_version=dev.device_os_version,
                        product_firmware_version=dev.product_firmware_version, attempts=attempts, cloud=cloud,
                        audit=audit)


def audit_page(s: Session, *, action: str | None, operator: str | None, device_id: str | None,
               privileged_only: bool, after: int | None, limit: int) -> Page[AuditView]:
    """Audit entries newest first; ``privileged_only``: only granted/refused decisions."""
    q = select(AuditEntry)
    if action:
        q = q.where(AuditEntry.action == action)
    if operator:
        q = q.where(AuditEntry.operator == operator)
    if device_id:
        q = q.where(AuditEntry.device_id == device_id.strip().lower())
    if privileged_only:
        q = q.where(AuditEntry.granted.is_not(None))
    if after is not None:
        q = q.where(AuditEntry.id < after)
    n = _limit(limit)
    rows = [AuditView(id=a.id, at=a.at, action=a.action, operator=a.operator, station=a.station,
                      device_id=a.device_id, role=a.role, granted=a.granted, reason=a.reason, details=a.details)
            for a in s.scalars(q.order_by(AuditEntry.id.desc()).limit(n + 1))]
    more = len(rows) > n
    rows = rows[:n]
    return Page(rows, rows[-1].id if more and rows else None)


__all__ = ["AttemptDetail", "AttemptFilter", "AttemptRow", "AuditView", "DeviceDetail", "DeviceHit", "LotOverview",
           "OutboxView", "Page"]
