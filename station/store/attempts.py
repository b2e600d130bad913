"""The attempt log: devices, provisioning attempts, their steps, flashes, measurements, labels, audit.

This is the write side the pipeline calls while it works on a device. The one operation with
rules is :meth:`AttemptLog.register_passed`, which binds the device to its product and queues its
cloud work in the same transaction as the passed outcome (see its docstring).
"""

from __future__ import annotations

import atexit
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from station import settings
from station.domain import Outcome
from station.errors import ConfigError, DeviceBusy, RegistryConflict, RegistryUnavailable, StationError
from station.store import outbox as _outbox
from station.store import spool as _spool
from station.store.journal import AttemptJournal
from station.store.leases import (
    ABANDONED_REASON,
    LEASE_TTL,
    UNAVAILABLE_REASON,
    HostIdentity,
    LeaseKeeper,
    claim,
    close_attempt,
    db_now,
    lease_is_dead,
    reap_dead_leases,
    this_host,
)
from station.store.models import (
    Attempt,
    AuditEntry,
    Device,
    Flash,
    Label,
    Lot,
    Measurement,
    Product,
    StationLease,
    Step,
)
from station.store.records import (
    CloudTargets,
    DeviceIdentity,
    DeviceStatus,
    FlashRecord,
    MeasurementRecord,
    StartedAttempt,
)
from station.store.uow import UnitOfWork, as_utc_naive, device_id_arg, utcnow

LOG = logging.getLogger(__name__)
__all__ = ["ABANDONED_REASON", "AttemptLog"]

class AttemptLog(UnitOfWork):
    """Recording side of the registry (the pipeline's calls while it provisions a device)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        #: this process's machine identity (tests stand in another PC by replacing it)
        self.host_identity: HostIdentity = this_host()
        self._leases: dict[str, LeaseKeeper] = {}
        self._lease_lock = threading.Lock()
        self.journal = AttemptJournal()
        #: attempts whose close could not be written (registry away): attempt id -> (outcome, step, reason)
        self._owed: dict[int, tuple[str, str | None, str | None, str | None]] = {}
        self._owed_lock = threading.Lock()

    # ------------------------------------------------------------------ station liveness (leases.py)
    def hold_station(self, station: str, *, ttl: timedelta = LEASE_TTL) -> LeaseKeeper:
        """Take this process's lease on ``station`` and close the attempts of dead station processes.

        Raises :class:`StationNameInUse` (an input error: nothing was touched) when a live process
        on another machine holds the name. A second call for the same name in one process returns
        the lease it already holds. The lease is renewed by a daemon thread and released by
        :meth:`close` (or expires ``ttl`` after the process died).
        """
        with self._lease_lock:
            held = self._leases.get(station)
            if held is not None and not held.lost.is_set():
                return held
            url = self._url()
            owed_here = _spool.load(url)
            with self.session() as s:
                lease_id, closed = claim(s, station, self.host_identity, ttl, owed=owed_here)
                still_open = set(s.scalars(select(Attempt.id).where(Attempt.id.in_(list(owed_here)),
                                                                    Attempt.outcome == Outcome.RUNNING.value)))
            if owed_here:
                _spool.forget(url, set(owed_here) - still_open)
            if closed:
                LOG.warning("station %s: closed %d attempt(s) left running by a stopped process", station, closed)
            keeper = LeaseKeeper(self, lease_id, station, self.host_identity, ttl)
            keeper.start()
            if not self._leases:
                atexit.register(self.release_stations)
            self._leases[station] = keeper
            return keeper

    def release_stations(self) -> None:
        with self._lease_lock:
            keepers, self._leases = list(self._leases.values()), {}
        if keepers:
            atexit.unregister(self.release_stations)
        for k in keepers:
            k.release()

    def close(self) -> None:
        self.settle_owed()
        self.flush_journals()
        with self._owed_lock:
            owed = {aid: _spool.OwedClose(outcome, step, reason or UNAVAILABLE_REASON, fault)
                    for aid, (outcome, step, reason, fault) in self._owed.items()}
        if owed:  # the registry is still away: keep them on this PC for the next start (spool.py)
            _spool.save(self._url(), owed)
        self.release_stations()
        super().close()

    def _url(self) -> str:
        return settings.hide_password(self.engine.url.render_as_string(hide_password=True))  # and ?password=

    # ------------------------------------------------------------------ registry outage (issue 10 item 9)
    def registry_returned(self) -> None:
        LOG.warning("the registry answers again; closing the attempts it could not record")
        self.settle_owed()

    def settle_owed(self) -> int:
        """Write the closes (and journaled records) of attempts that ended while the registry was away."""
        if not self._owed_lock.acquire(blocking=False):
            return 0  # another thread is settling
        try:
            done = 0
            for aid, (outcome, step, reason, fault) in list(self._owed.items()):
                try:
                    self._finish(aid, outcome=outcome, failing_step=step, reason=reason, fault=fault)
                except RegistryConflict:
                    pass  # closed meanwhile (its lease was reaped): nothing left to write
                except StationError:
                    break  # still away
                del self._owed[aid]
                done += 1
            return done
        finally:
            self._owed_lock.release()

    def flush_journals(self) -> None:
        """Write every journaled record now (closing the registry; nothing is dropped silently)."""
        for aid in self.journal.attempts():
            try:
                self.end_attempt(aid)
            except StationError as exc:
                LOG.error("attempt %s: %d record(s) could not be written: %s", aid,
                          self.journal.pending_rows(aid), exc)

    def device_status(self, device_id: str) -> DeviceStatus:
        did = device_id_arg(device_id)
        with self.reading() as s:  # one statement
            row = s.execute(select(Device.product_id, Device.lot_id, Device.platform, *_history(did))
                            .where(Device.device_id == did)).first()
        # an attempt always has its device row, so an unknown device has no attempts either
        return _status(did, *row) if row else _status(did, None, None, None, 0, None)

    def start_attempt(
        self, *, device_id: str, platform: str, lot_id: int, profile_id: int, station: str, slot: str,
        operator: str, transport: str, overrides: list[str], simulated: bool = False,
    ) -> int:
        """Open a running attempt owned by this process's lease on ``station`` (if it holds one).

        ``simulated``: a digital twin answered as this device; the device stays marked simulated
        for good (an ID a twin used never reaches a real cloud, whatever later runs it has).

        A device has at most one live attempt in a registry (a partial unique index): another
        live one — any slot, process, transport or PC — raises :class:`DeviceBusy` before the
        caller touches the device; one whose owner's lease is dead is closed as abandoned first.
        """
        return self.open_attempt(device_id=device_id, platform=platform, lot_id=lot_id, profile_id=profile_id,
                                 station=station, slot=slot, operator=operator, transport=transport,
                                 overrides=overrides, simulated=simulated).attempt_id

    def open_attempt(
        self, *, device_id: str, platform: str, lot_id: int, profile_id: int, station: str, slot: str,
        operator: str, transport: str, overrides: list[str], simulated: bool = False,
    ) -> StartedAttempt:
        """:meth:`start_attempt`, also returning the device's status as it was before this attempt
        (what :meth:`device_status` would have said), read in the same transaction: the pipeline's
        registry check costs no transaction of its own."""
        did = device_id_arg(device_id)
        lease = self._leases.get(station)
        for _ in range(3):
            try:
                started = self._start(did, platform=platform, lot_id=lot_id, profile_id=profile_id,
                                      station=station, slot=slot, operator=operator, transport=transport,
                                      overrides=overrides, lease_id=lease.id if lease else None,
                                      simulated=simulated)
                self.journal.open(started.attempt_id, device_id=did, lot_id=lot_id)
                return started
            except IntegrityError as exc:
                # Another process opened one between our check and our insert: the unique index
                # decided. Look again: it is live (busy), or it already ended and we may start.
                with self.reading() as s:
                    busy = self._live_attempt(s, did)
                if busy is not None:
                    raise DeviceBusy(self._busy_text(did, *busy)) from exc
                failure = exc
        raise RegistryConflict(f"attempt for device {did}: the registry refused it ({failure.orig})") from failure

    @staticmethod
    def _live_attempt(s: Session, did: str) -> tuple[Attempt, StationLease | None] | None:
        row = s.execute(select(Attempt, StationLease).outerjoin(StationLease, StationLease.id == Attempt.lease_id)
                        .where(Attempt.device_id == did, Attempt.outcome == Outcome.RUNNING.value)).first()
        return (row[0], row[1]) if row else None

    @staticmethod
    def _busy_text(did: str, att: Attempt, lease: StationLease | None) -> str:
        where = f" on host {lease.host}" if lease else ""
        return (f"device {did} is already being provisioned by station {att.station} slot {att.slot}{where} "
                f"(attempt {att.id} over {att.transport}, started {att.started_at:%Y-%m-%d %H:%M:%S} UTC): "
                "one board is never worked on twice at once; if two boards share this ID, set one aside")

    def _start(self, did: str, *, platform: str, lot_id: int, profile_id: int, station: str, slot: str,
               operator: str, transport: str, overrides: list[str], lease_id: str | None,
               simulated: bool = False) -> StartedAttempt:
        now = utcnow()
        with self.session() as s:
            busy = self._live_attempt(s, did)
            if busy is not None:
                att, owner = busy
                if owner is not None and lease_is_dead(owner, db_now(s), self.host_identity):
                    reap_dead_leases(s, db_now(s), self.host_identity, lease_ids=[owner.id])
                elif owner is None and att.lease_id is not None:  # owner's lease row is gone: nobody holds it
                    close_attempt(s, att.id, now)
                else:
                    raise DeviceBusy(self._busy_text(did, att, owner))
            dialect = s.get_bind().dialect.name
            stmt = _insert_ignore(dialect, Device).values(
                device_id=did, platform=platform, registrations=0, first_seen=now)
            new = s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
            # the device row and its history so far in one statement (was device_status's own read)
            dev, attempts, last_outcome = s.execute(select(Device, *_history(did))
                                                    .where(Device.device_id == did)).one()
            before = (_status(did, None, None, None, 0, None) if new else
                      _status(did, dev.product_id, dev.lot_id, dev.platform, attempts, last_outcome))
            if dev.platform is None:
                dev.platform = platform
            if simulated and not dev.simulated:
                dev.simulated = True
            att = Attempt(device_id=did, lot_id=lot_id, profile_id=profile_id, station=station, slot=slot,
                          operator=operator, transport=transport, overrides=list(overrides),
                          registrations_seen=dev.registrations, started_at=now,
                          outcome=Outcome.RUNNING.value, lease_id=lease_id)
            s.add(att)
            s.flush()
            return StartedAttempt(att.id, before)

    # Steps, measurements, flash records and labels of an attempt this object opened are journaled
    # and written with the attempt's next state change (see journal.py); others write through.
    def record_step(
        self, attempt_id: int, *, name: str, started_at: datetime, duration_s: float, outcome: str,
        reason: str | None = None, details: dict[str, Any] | None = None,
    ) -> None:
        values = {"attempt_id": attempt_id, "name": name, "started_at": as_utc_naive(started_at),
                  "duration_s": duration_s, "outcome": str(outcome), "reason": reason, "details": details}
        if not self.journal.add(attempt_id, Step, values):
            with self._write(f"step of attempt {attempt_id}") as s:
                s.execute(insert(Step), [values])

    def record_flash(
        self, attempt_id: int, *, module_sha256: str, function: int, index: int, version: int, address: int,
        role: str,
    ) -> None:
        self.record_flashes(attempt_id, [FlashRecord(module_sha256=module_sha256, function=function, index=index,
                                                     version=version, address=address, role=role)])

    def record_flashes(self, attempt_id: int, flashes: list[FlashRecord]) -> None:
        """Record what was just written to the device: a state change, so the journal goes with it."""
        with self._write(f"flash record of attempt {attempt_id}") as s:
            did, _ = self._owner(s, attempt_id)
            if flashes:
                s.execute(insert(Flash), [
                    {"attempt_id": attempt_id, "device_id": did, "module_sha256": f.module_sha256,
                     "function": int(f.function), "module_index": f.index, "version": f.version,
                     "address": f.address, "role": f.role} for f in flashes])
            written = self.journal.write(s, attempt_id)
        self.journal.committed(attempt_id, written)

    def record_measurement(self, attempt_id: int, m: MeasurementRecord) -> None:
        owner = self.journal.owner(attempt_id)
        values = {"attempt_id": attempt_id, "step": m.step, "name": m.name, "value_num": m.value,
                  "value_text": m.text, "unit": m.unit, "low": m.low, "high": m.high, "expected": m.expected,
                  "regex": m.regex, "passed": m.passed, "duration_s": m.duration_s, "try_number": m.try_number}
        if owner is not None:
            self.journal.add(attempt_id, Measurement, {**values, "device_id": owner[0], "lot_id": owner[1]})
            return
        with self._write(f"measurement of attempt {attempt_id}") as s:
            did, lot_id = self._owner(s, attempt_id)
            s.execute(insert(Measurement), [{**values, "device_id": did, "lot_id": lot_id}])

    def end_attempt(self, attempt_id: int) -> None:
        """The pipeline is done with this attempt: write what it recorded since its last state
        change (after a registration: the register and label steps, the labels) and forget it."""
        if self.journal.owner(attempt_id) is None:
            return
        if not self.journal.pending_rows(attempt_id):
            self.journal.committed(attempt_id, {}, close=True)
            return
        with self._write(f"records of attempt {attempt_id}") as s:
            written = self.journal.write(s, attempt_id)
        self.journal.committed(attempt_id, written, close=True)

    def _owner(self, s: Session, attempt_id: int) -> tuple[str, int]:
        owner = self.journal.owner(attempt_id)
        if owner is not None:
            return owner
        row = s.execute(select(Attempt.device_id, Attempt.lot_id).where(Attempt.id == attempt_id)).first()
        if row is None:
            raise RegistryConflict(f"attempt {attempt_id} does not exist")
        return row[0], row[1]

    def record_identity(
        self, device_id: str, *, serial_number: str | None, imei: str | None, iccid: str | None,
        device_os_version: str | None, product_firmware_version: str | None,
    ) -> None:
        """Update what the device told us about itself; ``None`` keeps the value already known."""
        did = device_id_arg(device_id)
        values = DeviceIdentity(serial_number=serial_number, imei=imei, iccid=iccid,
                                device_os_version=device_os_version,
                                product_firmware_version=product_firmware_version).known()
        if not values:
            return
        with self.session() as s:
            res = s.execute(update(Device).where(Device.device_id == did).values(**values))
            if res.rowcount == 0:  # type: ignore[attr-defined]
                raise ConfigError(f"device {did} is not in the registry (start an attempt first)")

    def finish_attempt(self, attempt_id: int, *, outcome: str, failing_step: str | None, reason: str | None,
                       fault: str | None = None) -> None:
        """Close a running attempt. Closing one twice is a bug in the caller and raises.

        With the registry away (RegistryUnavailable) the close is kept and written as soon as the
        registry answers again, or by this PC's next station start (see spool.py).
        """
        try:
            self._finish(attempt_id, outcome=outcome, failing_step=failing_step, reason=reason, fault=fault)
        except RegistryUnavailable:
            with self._owed_lock:
                self._owed[attempt_id] = (str(outcome), failing_step, reason, fault)
            raise

    def _finish(self, attempt_id: int, *, outcome: str, failing_step: str | None, reason: str | None,
                fault: str | None = None) -> None:
        with self.session() as s:
            res = s.execute(update(Attempt).where(Attempt.id == attempt_id,
                                                  Attempt.outcome == Outcome.RUNNING.value)
                            .values(outcome=outcome, failing_step=failing_step, reason=reason,
                                    fault=fault, finished_at=utcnow()))
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise RegistryConflict(f"attempt {attempt_id} is not running (already finished or unknown)")
            written = self.journal.write(s, attempt_id)
        self.journal.committed(attempt_id, written, close=True)

    def register_passed(
        self, attempt_id: int, *, product_id: int, lot_id: int, cloud: CloudTargets,
        identity: DeviceIdentity | None = None,
    ) -> None:
        """Finish the attempt as passed, bind the device, store its identity and queue its cloud work
        in ONE transaction.

        The bind is a conditional UPDATE: it succeeds only if the device is free or already this
        product's *and* nobody registered it since this attempt started. On PostgreSQL a concurrent
        registration of the same row blocks until the first commits and then re-checks the
        condition, so exactly one of two racing stations wins. ``identity`` (serial, IMEI, ICCID,
        versions) is written in the same transaction, so the loser of such a race leaves the
        winner's identity untouched; its ``None`` fields keep the values already known.
        """
        try:
            with self.session() as s:
                self._register(s, attempt_id, product_id=product_id, lot_id=lot_id, cloud=cloud,
                               identity=identity)
                written = self.journal.write(s, attempt_id)
            self.journal.committed(attempt_id, written)  # stays open for the records after registration
        except IntegrityError as exc:
            raise RegistryConflict(
                f"attempt {attempt_id}: another station registered this device at the same time") from exc

    def _register(
        self, s: Session, attempt_id: int, *, product_id: int, lot_id: int, cloud: CloudTargets,
        identity: DeviceIdentity | None,
    ) -> None:
        att = s.get(Attempt, attempt_id)
        if att is None:
            raise RegistryConflict(f"attempt {attempt_id} does not exist")
        if att.outcome != Outcome.RUNNING.value:
            raise RegistryConflict(f"attempt {attempt_id} already finished as {att.outcome}")
        now = utcnow()
        bound = s.execute(
            update(Device)
            .where(Device.device_id == att.device_id,
                   Device.registrations == att.registrations_seen,
                   or_(Device.product_id.is_(None), Device.product_id == product_id))
            .values(product_id=product_id, lot_id=lot_id, registered_attempt_id=attempt_id, registered_at=now,
                    registrations=Device.registrations + 1, **(identity.known() if identity else {}))
        )
        if bound.rowcount != 1:  # type: ignore[attr-defined]
            raise RegistryConflict(self._conflict_reason(s, att, product_id))
        s.execute(update(Attempt).where(Attempt.id == attempt_id)
                  .values(outcome=Outcome.PASSED.value, finished_at=now, failing_step=None, reason=None))
        _outbox.queue_for(s, device_id=att.device_id, attempt_id=attempt_id, cloud=cloud, now=now)

    @staticmethod
    def _conflict_reason(s: Session, att: Attempt, product_id: int) -> str:
        dev = s.execute(select(Device).where(Device.device_id == att.device_id)
                        .execution_options(populate_existing=True)).scalar_one()
        if dev.product_id is not None and dev.product_id != product_id:
            other = s.get(Product, dev.product_id)
            lot = s.get(Lot, dev.lot_id) if dev.lot_id else None
            return (f"device {dev.device_id} is registered to product "
                    f"{other.name if other else dev.product_id!r}"
                    f"{f' (lot {lot.name})' if lot else ''}; it cannot join another product")
        winner = s.get(Attempt, dev.registered_attempt_id) if dev.registered_attempt_id else None
        where = f"station {winner.station} slot {winner.slot} (attempt {winner.id})" if winner else "another station"
        return (f"device {dev.device_id} was registered by {where} while this attempt was running: "
                "two devices may share this ID")

    def close_abandoned_attempts(self, station: str) -> int:
        """Close ``station``'s running attempts that no live process owns; returns how many.

        An attempt is live while its owner's lease is (see ``leases``); attempts without an owner
        (opened without :meth:`hold_station`) are abandoned unless this process holds the station.
        """
        with self.session() as s:
            now = db_now(s)
            closed = reap_dead_leases(s, now, self.host_identity)
            mine = self._leases.get(station)
            if mine is None:
                for aid in s.scalars(select(Attempt.id).where(Attempt.station == station,
                                                               Attempt.lease_id.is_(None),
                                                               Attempt.outcome == Outcome.RUNNING.value)):
                    closed += close_attempt(s, aid, now)
            return closed

    # ------------------------------------------------------------------ labels and audit
    def record_label(self, device_id: str, attempt_id: int | None, *, path: str, fmt: str) -> None:
        values = {"device_id": device_id_arg(device_id), "attempt_id": attempt_id, "path": path, "fmt": fmt,
                  "printed_at": utcnow()}
        if attempt_id is not None and self.journal.add(attempt_id, Label, values):
            return
        with self._write(f"label of device {device_id}") as s:
            s.execute(insert(Label), [values])

    def audit(self, action: str, *, operator: str, station: str, device_id: str | None = None,
              details: dict[str, Any] | None = None) -> None:
        with self.session() as s:
            s.add(AuditEntry(at=utcnow(), action=action, operator=operator, station=station,
                             device_id=device_id_arg(device_id) if device_id else None, details=details))


def _history(did: str) -> tuple[Any, Any]:
    """A device's attempt count and its last real outcome, as scalar subqueries beside its row."""
    count = select(func.count()).select_from(Attempt).where(Attempt.device_id == did).scalar_subquery()
    # A skipped re-scan is history, not a result: the outcome that counts is the last real one.
    last = (select(Attempt.outcome).where(Attempt.device_id == did, Attempt.outcome != Outcome.SKIPPED.value)
            .order_by(Attempt.id.desc()).limit(1).scalar_subquery())
    return count, last


def _status(did: str, product_id: int | None, lot_id: int | None, platform: str | None, attempts: int | None,
            last_outcome: str | None) -> DeviceStatus:
    return DeviceStatus(device_id=did, registered_product_id=product_id, registered_lot_id=lot_id,
                        platform=platform, last_outcome=last_outcome, attempts=int(attempts or 0))


def _insert_ignore(dialect: str, model: type[Device]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the two dialects the station supports."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(model).on_conflict_do_nothing()
    return insert(model).prefix_with("")  # other backends: plain insert, IntegrityError on duplicates
