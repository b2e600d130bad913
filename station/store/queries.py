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

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from functools import partial
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, Text, and_, case, cast, func, literal, null, or_, select
from sqlalchemy.orm import Session, aliased

from station.domain import STATION_FAULTS, UNSAFE_TO_POWER, Outcome
from station.store.models import Attempt, Device, Label, Lot, Measurement, OutboxRow, Product, Step
from station.store.records import (
    AttemptRecord,
    DeviceAttempt,
    DeviceRecord,
    LotAggregates,
    LotRef,
    LotSummary,
    ManifestRow,
    MeasurementAggregate,
    StoredMeasurement,
)

STREAM_CHUNK = 5000


#: A skipped attempt is a re-scan of a device the registry already had done: it is kept in the
#: history but never stands for the device's result (else a second scan would hide a passed device).
_COUNTS = Attempt.outcome != Outcome.SKIPPED.value

#: ``test_result`` of a device that passed in a lot and was later registered into another lot.
REPROVISIONED = "reprovisioned"


def _latest_per_device(lot_id: int | None = None) -> Any:
    q = select(Attempt.lot_id, Attempt.device_id, func.max(Attempt.id).label("aid")).where(_COUNTS)
    if lot_id is not None:
        q = q.where(Attempt.lot_id == lot_id)
    return q.group_by(Attempt.lot_id, Attempt.device_id).subquery("latest")


def lot_ref(s: Session, name: str) -> LotRef | None:
    r = s.execute(select(Lot.id, Lot.name, Product.name, Product.id, Lot.created_at)
                  .join(Product, Product.id == Lot.product_id).where(Lot.name == name)).first()
    return LotRef(id=r[0], name=r[1], product=r[2], product_id=r[3], created=r[4]) if r else None


def lot_summaries(s: Session, name: str | None = None) -> list[LotSummary]:
    """Every lot with its counts; with ``name``, that lot only (its devices alone are counted)."""
    ref = lot_ref(s, name) if name is not None else None
    if name is not None and ref is None:
        return []
    latest = _latest_per_device(ref.id if ref else None)
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


def _manifest_query(lot_id: int, include_failed: bool, *, by_attempt: bool = False) -> Select:  # type: ignore[type-arg]
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
         .order_by(Attempt.id if by_attempt else Attempt.device_id))
    if not include_failed:
        q = q.where(passed, Device.lot_id == lot_id)
    return q


def manifest_rows(s: Session, lot_id: int, *, include_failed: bool, by_attempt: bool = False) -> Iterator[ManifestRow]:
    """A lot's manifest rows in device-ID order (``by_attempt``: in the order they were provisioned)."""
    # the driver's rows (_driver_rows), not SQLAlchemy's: a Row and its result processors per
    # device were a third of a 100k-device txt/csv export's CPU. SQLite's driver gives the time
    # as the text SQLAlchemy stored; fromisoformat reads it back as SQLAlchemy would.
    parse = datetime.fromisoformat
    with ExitStack() as cursors:
        for r in _driver_rows(s, _manifest_query(lot_id, include_failed, by_attempt=by_attempt), "manifest", cursors):
            t = r[7]
            yield ManifestRow(*r[:7], parse(t) if t.__class__ is str else t, *r[8:])  # type: ignore[call-arg]


def manifest_device_ids(s: Session, lot_id: int, *, include_failed: bool) -> Iterator[str]:
    """The device IDs of :func:`manifest_rows`, same devices, same order: what a txt manifest
    needs, without the joins' other columns sorted and read along (half the SQLite time)."""
    q = _manifest_query(lot_id, include_failed).with_only_columns(Attempt.device_id, maintain_column_froms=True)
    with ExitStack() as cursors:
        for (device_id,) in _driver_rows(s, q, "manifest_ids", cursors):
            yield device_id


#: field names of the raw detail tuples below (what the JSON manifest calls them)
STEP_FIELDS = ("name", "outcome", "duration_s", "reason", "details")
MEASUREMENT_FIELDS = ("step", "name", "value", "text", "unit", "low", "high", "expected", "regex", "passed",
                      "duration_s", "try")
#: a measurement's ``passed`` is as the driver gives it: a bool, or 0/1 from SQLite. Each raw tuple
#: holds the fields above and then its attempt's id (last, so the database's rows are handed out
#: as they come: a copy without the id cost 0.5 s CPU per 100k devices)
RawDetails = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _step_columns() -> tuple[Any, ...]:
    # details stay the JSON text the registry stored (CAST: PostgreSQL's driver would otherwise
    # parse every document), so an export can splice them in unparsed
    return (Step.name, Step.outcome, Step.duration_s, Step.reason, cast(Step.details, Text), Step.attempt_id)


def _measurement_columns() -> tuple[Any, ...]:
    return (Measurement.step, Measurement.name, Measurement.value_num, Measurement.value_text, Measurement.unit,
            Measurement.low, Measurement.high, Measurement.expected, Measurement.regex, Measurement.passed,
            Measurement.duration_s, Measurement.try_number, Measurement.attempt_id)


def attempt_details(s: Session, lot_id: int) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Steps and measurements of every attempt in a lot as dicts, keyed by attempt id (small lots)."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    conn = s.connection()
    in_lot = select(Attempt.id).where(Attempt.lot_id == lot_id)
    for *r, aid in conn.execute(select(*_step_columns()).where(Step.attempt_id.in_(in_lot)).order_by(Step.id)):
        out.setdefault(aid, {"steps": [], "measurements": []})["steps"].append(
            dict(zip(STEP_FIELDS, (*r[:4], json.loads(r[4]) if r[4] else None), strict=True)))
    for *r, aid in conn.execute(select(*_measurement_columns()).where(Measurement.attempt_id.in_(in_lot))
                                .order_by(Measurement.id)):
        out.setdefault(aid, {"steps": [], "measurements": []})["measurements"].append(
            dict(zip(MEASUREMENT_FIELDS, r, strict=True)))
    return out


def _driver_rows(s: Session, stmt: Select, name: str, cursors: ExitStack) -> Iterator[tuple[Any, ...]]:  # type: ignore[type-arg]
    """The rows of ``stmt`` as the database driver returns them, from a server-side cursor on
    PostgreSQL, in the session's transaction; ``cursors`` closes the cursor.

    For the json export's 2.9 M detail rows: SQLAlchemy's result rows (a Row per row, with the
    types' result processors) and a Python generator step per row cost 1.4 of the 6.3 s CPU the
    export spent reading a 100k-device lot on SQLite; here the rows of each ``fetchmany`` are
    chained in C. Only for statements whose parameters need no bind processing (ids and plain
    strings) and whose columns the caller takes as the driver gives them (SQLite's booleans
    are 0/1). A driver other than sqlite3 and psycopg goes through SQLAlchemy.
    """
    conn = s.connection()
    dialect = conn.dialect
    if (dialect.name, dialect.driver) not in (("sqlite", "pysqlite"), ("postgresql", "psycopg")):
        return iter(conn.execute(stmt.execution_options(yield_per=STREAM_CHUNK)))
    compiled = stmt.compile(dialect=dialect)
    params: Any = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[k] for k in compiled.positiontup or ())
    raw: Any = conn.connection.dbapi_connection
    cur = raw.cursor(name=f"station_{name}") if dialect.name == "postgresql" else raw.cursor()
    cursors.callback(cur.close)
    cur.execute(str(compiled), params)
    chunks: Iterator[list[Any]] = iter(partial(cur.fetchmany, STREAM_CHUNK), [])
    if dialect.name == "postgresql":
        chunks = _prefetched(chunks, cursors)
    return chain.from_iterable(chunks)


_END = object()


def _prefetched(chunks: Iterator[list[Any]], cursors: ExitStack) -> Iterator[list[Any]]:
    """``chunks`` fetched one ahead by a thread of their own.

    A server-side cursor's FETCH waits for the server while this thread could be encoding the
    rows it already has; psycopg waits for the network without the GIL, so the server's work
    and the export's overlap (psycopg serialises the cursors' use of their one connection).
    At most two chunks per stream are held. ``cursors`` stops and joins the thread (before the
    cursor closes: callbacks run last in, first out).
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        q.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            q.put(exc)

    worker = threading.Thread(target=fetch, name="registry-prefetch", daemon=True)
    worker.start()

    def finish() -> None:
        stop.set()
        worker.join()

    cursors.callback(finish)

    def read() -> Iterator[list[Any]]:
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    return read()


def _lot_detail_stream(s: Session, columns: tuple[Any, ...], lot_id: int,
                       cursors: ExitStack) -> Iterator[tuple[int, Iterator[Any]]]:
    """One kind of detail row of a lot's attempts, in attempt order, from a server-side cursor,
    grouped by attempt: ``(attempt id, its rows)``.

    Ordered by ``attempts.id`` (not the detail table's ``attempt_id``, equal by the join): the
    database then walks the lot's attempts in index order and each attempt's rows by the detail
    index, and hands out the first row at once. Ordered by the detail column instead, SQLite
    sorted all 1.2 M step rows (with their details text) in a temporary B-tree before the first.
    """
    table = columns[-1].table
    q = (select(*columns).join(Attempt, Attempt.id == columns[-1]).where(Attempt.lot_id == lot_id)
         .order_by(Attempt.id, table.c.id))
    return groupby(_driver_rows(s, q, table.name, cursors), key=itemgetter(len(columns) - 1))


_DONE: tuple[int, Iterator[Any]] = (-1, iter(()))


def manifest_rows_with_details(
    s: Session, lot_id: int, *, include_failed: bool
) -> Iterator[tuple[ManifestRow, RawDetails]]:
    """A lot's manifest rows in attempt order, each with its attempt's raw steps and measurements.

    Three cursors stream in attempt order (rows, steps, measurements) and are merged here, so
    memory holds one device's details whatever the lot size (the former export loaded every step
    and measurement of the lot into one dict: 4.7 GB for 100k devices) and the database runs
    three ordered index scans instead of one statement per block of devices. Detail rows of
    attempts that are not in the manifest (a failed first try) are skipped as they pass.
    """
    with ExitStack() as cursors:
        steps = _lot_detail_stream(s, _step_columns(), lot_id, cursors)
        meas = _lot_detail_stream(s, _measurement_columns(), lot_id, cursors)
        step_aid, step_rows = next(steps, _DONE)
        meas_aid, meas_rows = next(meas, _DONE)
        for row in manifest_rows(s, lot_id, include_failed=include_failed, by_attempt=True):
            aid = row.attempt_id
            while 0 <= step_aid < aid:
                step_aid, step_rows = next(steps, _DONE)
            while 0 <= meas_aid < aid:
                meas_aid, meas_rows = next(meas, _DONE)
            yield row, (list(step_rows) if step_aid == aid else [], list(meas_rows) if meas_aid == aid else [])


def lot_aggregates(s: Session, lot_id: int) -> LotAggregates:
    """Yields, failures by step and numeric measurement statistics, computed by the database.

    First and final results are those of each device's first judged (finished, not a station
    error: that judged nothing) and last *finished* attempt in the attempts' sequence (``attempts.id``, assigned by the database in the order attempts start),
    never ordered by a wall clock that may have stepped.
    """
    finished = (Attempt.lot_id == lot_id) & Attempt.outcome.notin_([Outcome.RUNNING.value, Outcome.SKIPPED.value])
    # the first *judged* attempt: a station error judged nothing (views._lot_stats, report.compute_lot_report)
    judged_id = case((Attempt.fault.in_(STATION_FAULTS) & (Attempt.outcome == Outcome.FAILED.value), None),
                     else_=Attempt.id)
    ends = (select(Attempt.device_id, func.min(judged_id).label("first"), func.max(Attempt.id).label("last"))
            .where(finished).group_by(Attempt.device_id).subquery("ends"))
    first, last = aliased(Attempt), aliased(Attempt)
    passed = Outcome.PASSED.value
    # the lot view's definitions (views._lot_stats): a NULL fault is a judged end
    last_error = last.fault.in_(STATION_FAULTS) & (last.outcome == Outcome.FAILED.value)
    devices, first_pass, final_pass, failed, errors = s.execute(
        select(func.count(), func.sum(case((first.outcome == passed, 1), else_=0)),
               func.sum(case((last.outcome == passed, 1), else_=0)),
               func.sum(case((last_error, 0), (last.outcome != passed, 1), else_=0)),
               func.sum(case((last_error, 1), else_=0)))
        .select_from(ends).outerjoin(first, first.id == ends.c.first).join(last, last.id == ends.c.last)).one()
    attempts = s.scalar(select(func.count()).select_from(Attempt).where(finished)) or 0
    # the rate's span as the lot panel has it (views.LotOverview): every attempt of the lot
    first_started, last_finished = s.execute(
        select(func.min(Attempt.started_at), func.max(Attempt.finished_at)).where(Attempt.lot_id == lot_id)).one()
    failures = [(step, int(n)) for step, n in s.execute(
        select(Attempt.failing_step, func.count())
        .where(Attempt.lot_id == lot_id, Attempt.outcome == Outcome.FAILED.value,
               or_(Attempt.fault.is_(None), Attempt.fault.notin_(STATION_FAULTS)))
        .group_by(Attempt.failing_step))]
    in_lot = Measurement.lot_id == lot_id  # covered by ix_measurements_lot_stats, already in group order
    # One pass grouped by unit as well; the few groups are merged here (the most common unit
    # names the statistic; ties go to the unit's name, so the result never depends on row order).
    groups: dict[tuple[str, str], list[Any]] = {}
    for step, name, unit, n, total, lo, hi in s.execute(
            select(Measurement.step, Measurement.name, Measurement.unit, func.count(),
                   func.sum(Measurement.value_num), func.min(Measurement.value_num), func.max(Measurement.value_num))
            .where(in_lot, Measurement.value_num.is_not(None))
            .group_by(Measurement.step, Measurement.name, Measurement.unit)):
        g = groups.setdefault((step, name), [0, 0.0, lo, hi, None])
        g[0] += n
        g[1] += total
        g[2], g[3] = min(g[2], lo), max(g[3], hi)
        if unit and (g[4] is None or (-n, unit) < (-g[4][0], g[4][1])):
            g[4] = (n, unit)
    stats = [MeasurementAggregate(step=step, name=name, unit=g[4][1] if g[4] else None, count=int(g[0]),
                                  mean=float(g[1]) / g[0], min=float(g[2]), max=float(g[3]))
             for (step, name), g in sorted(groups.items())]
    return LotAggregates(devices=int(devices or 0), first_pass=int(first_pass or 0), final_pass=int(final_pass or 0),
                         attempts=int(attempts), failures_by_step=failures, measurements=stats,
                         first_started=first_started, last_finished=last_finished, failed=int(failed or 0),
                         errors=int(errors or 0))


def lot_attempts(s: Session, lot_id: int) -> list[AttemptRecord]:
    q = (select(Attempt.id, Attempt.device_id, Attempt.started_at, Attempt.outcome, Attempt.failing_step,
                Attempt.finished_at, Attempt.fault)
         .where(Attempt.lot_id == lot_id).order_by(Attempt.id))
    return [AttemptRecord(attempt_id=r[0], device_id=r[1], started_at=r[2], outcome=r[3], failing_step=r[4],
                          finished_at=r[5], fault=r[6]) for r in s.execute(q)]


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


def unlabelled_devices(s: Session, lot_id: int) -> list[str]:
    """Devices registered in the lot with no label recorded (a stop between registration and label)."""
    return list(s.scalars(
        select(Device.device_id)
        .where(Device.lot_id == lot_id, Device.product_id.is_not(None),
               ~select(Label.id).where(Label.device_id == Device.device_id).exists())
        .order_by(Device.device_id)))


def unsafe_devices(s: Session, lot_id: int) -> list[str]:
    """Devices of the lot whose latest finished attempt (by sequence, in any lot) left them unsafe
    to power: lost with the product behind an open boot gate (issue 10 item 1)."""
    # Unsafe attempts are rare, so they are the candidates: each is kept when no later finished
    # attempt of its device exists (an anti-join on ix_attempts_device_id). Grouping every attempt of
    # a 100k lot's devices for their max(id) first cost SQLite more than the rest of the report's SQL.
    finished = Attempt.outcome.notin_([Outcome.RUNNING.value, Outcome.SKIPPED.value])
    later, in_lot = aliased(Attempt), aliased(Attempt)
    superseded = (select(later.id).where(later.device_id == Attempt.device_id, later.id > Attempt.id,
                                         later.outcome.notin_([Outcome.RUNNING.value, Outcome.SKIPPED.value]))
                  .exists())
    return list(s.scalars(
        select(Attempt.device_id)
        .where(finished, Attempt.outcome != Outcome.PASSED.value,
               Attempt.reason.startswith(UNSAFE_TO_POWER, autoescape=True),
               Attempt.device_id.in_(select(in_lot.device_id).where(in_lot.lot_id == lot_id)),
               ~superseded)
        .order_by(Attempt.device_id)))


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
        attempts=attempts, labels=labels, cloud=cloud, simulated=bool(dev.simulated),
    )


def device_ids_matching(s: Session, *, prefix: str | None = None, serial: str | None = None,
                        limit: int) -> list[str]:
    """Device IDs that start with ``prefix`` (lowercase hex) or carry serial number ``serial``, in ID order.

    A prefix is a range on the primary key (``>= prefix`` and ``< prefix`` + 'g'), so it stays an
    index scan on either database without LIKE's escaping and collation questions.
    """
    q = select(Device.device_id).order_by(Device.device_id).limit(limit)
    if prefix is not None:
        q = q.where(Device.device_id >= prefix, Device.device_id < prefix + "g")
    if serial is not None:
        q = q.where(func.upper(Device.serial_number) == serial.upper())
    return list(s.scalars(q))
