"""The registry: the station's record of every device, attempt, step, flash, measurement and label.

Every public method is one unit of work: it opens its own short session in the calling thread,
commits, and closes (rolled back if anything raises), so several slots can share one
:class:`Registry` without sharing sessions. Results are plain records (``station.store.records``),
never ORM objects. Reads that can be long (exports, reports) live in ``station.store.queries``;
the cloud outbox operations in ``station.store.outbox``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from station.domain import Outcome, normalize_device_id
from station.errors import ConfigError, RegistryConflict, StationError
from station.store import outbox as _outbox
from station.store import queries as _queries
from station.store.engine import default_db_url, make_engine, migrate, read_only, resolve_url
from station.store.models import (
    Attempt,
    AuditEntry,
    Device,
    Flash,
    Label,
    Lot,
    Measurement,
    Product,
    Profile,
    Step,
)
from station.store.records import (
    AttemptRecord,
    CloudTargets,
    DeviceStatus,
    LotSummary,
    ManifestRow,
    MeasurementRecord,
    StoredMeasurement,
)

__all__ = ["Registry", "RegistryUnavailable", "default_db_url", "open_registry", "utcnow"]

ABANDONED_REASON = "station stopped during the attempt"


def utcnow() -> datetime:
    """Naive UTC: what the tables store, identical on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc_naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _device_id(text: str) -> str:
    try:
        return normalize_device_id(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


class RegistryUnavailable(StationError):
    """The registry database cannot be reached or stayed locked past the busy timeout."""


def _translate(exc: OperationalError) -> StationError:
    text = str(exc.orig).lower()
    if "serializ" in text or "deadlock" in text:
        return RegistryConflict(f"another station changed the same record at the same time ({exc.orig})")
    return RegistryUnavailable(f"registry database unavailable: {exc.orig}")


def open_registry(url: str | None = None) -> Registry:
    """Open (and migrate to head) the registry at ``url``, ``$STATION_DB`` or the default SQLite file."""
    engine = make_engine(resolve_url(url))
    migrate(engine)
    return Registry(engine)


class Registry:
    """Thread-safe facade over the registry database; see the module docstring for the rules."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(read_only(engine), expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write unit of work: committed on success, rolled back on any exception.

        Database failures leave as station errors: a race with another station as
        RegistryConflict, an unreachable or locked database as RegistryUnavailable.
        ``IntegrityError`` passes through so the ``ensure_*`` methods can re-read after a race.
        """
        try:
            with self._sessions() as s, s.begin():
                yield s
        except OperationalError as exc:
            raise _translate(exc) from exc
        except InterfaceError as exc:
            raise RegistryUnavailable(f"registry database connection failed: {exc.orig}") from exc

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read unit of work that never takes SQLite's write lock."""
        try:
            with self._read_sessions() as s, s.begin():
                yield s
        except (OperationalError, InterfaceError) as exc:
            raise RegistryUnavailable(f"registry database unavailable: {exc.orig}") from exc

    @contextmanager
    def _write(self, what: str) -> Iterator[Session]:
        """A unit of work whose integrity errors mean the caller referred to something unknown."""
        try:
            with self.session() as s:
                yield s
        except IntegrityError as exc:
            raise RegistryConflict(f"{what}: the registry refused it ({exc.orig})") from exc

    # ------------------------------------------------------------------ products, profiles, lots
    def ensure_product(
        self, *, name: str, platform: str, particle_product: str | None, peridio_product_prn: str | None
    ) -> int:
        """Create the product or update its cloud targets (a profile may move to a new product slug)."""
        for _ in range(2):
            try:
                with self.session() as s:
                    row = s.scalars(select(Product).where(Product.name == name)).one_or_none()
                    if row is None:
                        row = Product(name=name, platform=platform, particle_product=particle_product,
                                      peridio_product_prn=peridio_product_prn, created_at=utcnow())
                        s.add(row)
                    else:
                        if row.platform != platform:
                            raise ConfigError(
                                f"product {name!r} is recorded for platform {row.platform}, not {platform}")
                        row.particle_product = particle_product
                        row.peridio_product_prn = peridio_product_prn
                    s.flush()
                    return row.id
            except IntegrityError:
                continue  # another station created it between our select and insert: read it back
        raise RegistryConflict(f"could not create product {name!r}")

    def ensure_profile(self, *, product_id: int, path: str, sha256: str, content: str) -> int:
        """Store the profile text once per hash so every attempt can say exactly which profile it used."""
        for _ in range(2):
            try:
                with self.session() as s:
                    pid = s.scalar(select(Profile.id).where(Profile.product_id == product_id,
                                                            Profile.sha256 == sha256))
                    if pid is not None:
                        return pid
                    row = Profile(product_id=product_id, path=path, sha256=sha256, content=content,
                                  created_at=utcnow())
                    s.add(row)
                    s.flush()
                    return row.id
            except IntegrityError:
                continue
        raise RegistryConflict(f"could not record profile {path}")

    def ensure_lot(self, name: str, *, product_id: int) -> int:
        """A lot belongs to one product; reusing its name for another product is an operator error."""
        if not name.strip():
            raise ConfigError("lot name is empty")
        for _ in range(2):
            try:
                with self.session() as s:
                    lot = s.scalars(select(Lot).where(Lot.name == name)).one_or_none()
                    if lot is not None:
                        if lot.product_id != product_id:
                            other = s.get(Product, lot.product_id)
                            raise ConfigError(
                                f"lot {name!r} belongs to product {other.name if other else lot.product_id!r}; "
                                "use a new lot name for this product")
                        return lot.id
                    lot = Lot(name=name, product_id=product_id, created_at=utcnow())
                    s.add(lot)
                    s.flush()
                    return lot.id
            except IntegrityError:
                continue
        raise RegistryConflict(f"could not create lot {name!r}")

    # ------------------------------------------------------------------ devices and attempts
    def device_status(self, device_id: str) -> DeviceStatus:
        did = _device_id(device_id)
        with self.reading() as s:
            dev = s.get(Device, did)
            count = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.device_id == did)) or 0
            last = s.scalar(select(Attempt.outcome).where(Attempt.device_id == did)
                            .order_by(Attempt.id.desc()).limit(1))
            return DeviceStatus(
                device_id=did,
                registered_product_id=dev.product_id if dev else None,
                registered_lot_id=dev.lot_id if dev else None,
                platform=dev.platform if dev else None,
                last_outcome=last,
                attempts=count,
            )

    def start_attempt(
        self, *, device_id: str, platform: str, lot_id: int, profile_id: int, station: str, slot: str,
        operator: str, transport: str, overrides: list[str],
    ) -> int:
        did = _device_id(device_id)
        now = utcnow()
        with self._write(f"attempt for device {did}") as s:
            dialect = s.get_bind().dialect.name
            stmt = _insert_ignore(dialect, Device).values(
                device_id=did, platform=platform, registrations=0, first_seen=now)
            s.execute(stmt)
            dev = s.get(Device, did)
            assert dev is not None
            if dev.platform is None:
                dev.platform = platform
            att = Attempt(device_id=did, lot_id=lot_id, profile_id=profile_id, station=station, slot=slot,
                          operator=operator, transport=transport, overrides=list(overrides),
                          registrations_seen=dev.registrations, started_at=now,
                          outcome=Outcome.RUNNING.value)
            s.add(att)
            s.flush()
            return att.id

    def record_step(
        self, attempt_id: int, *, name: str, started_at: datetime, duration_s: float, outcome: str,
        reason: str | None = None, details: dict[str, Any] | None = None,
    ) -> None:
        with self._write(f"step of attempt {attempt_id}") as s:
            s.add(Step(attempt_id=attempt_id, name=name, started_at=as_utc_naive(started_at),
                       duration_s=duration_s, outcome=outcome, reason=reason, details=details))

    def record_flash(
        self, attempt_id: int, *, module_sha256: str, function: int, index: int, version: int, address: int,
        role: str,
    ) -> None:
        with self._write(f"flash record of attempt {attempt_id}") as s:
            did = self._attempt_device(s, attempt_id)
            s.add(Flash(attempt_id=attempt_id, device_id=did, module_sha256=module_sha256, function=int(function),
                        module_index=index, version=version, address=address, role=role))

    def record_measurement(self, attempt_id: int, m: MeasurementRecord) -> None:
        with self._write(f"measurement of attempt {attempt_id}") as s:
            did = self._attempt_device(s, attempt_id)
            s.add(Measurement(
                attempt_id=attempt_id, device_id=did, step=m.step, name=m.name, value_num=m.value,
                value_text=m.text, unit=m.unit, low=m.low, high=m.high, expected=m.expected, regex=m.regex,
                passed=m.passed, duration_s=m.duration_s, try_number=m.try_number))

    def record_identity(
        self, device_id: str, *, serial_number: str | None, imei: str | None, iccid: str | None,
        device_os_version: str | None, product_firmware_version: str | None,
    ) -> None:
        """Update what the device told us about itself; ``None`` keeps the value already known."""
        did = _device_id(device_id)
        fields = {"serial_number": serial_number, "imei": imei, "iccid": iccid,
                  "device_os_version": device_os_version, "product_firmware_version": product_firmware_version}
        values = {k: v for k, v in fields.items() if v is not None}
        if not values:
            return
        with self.session() as s:
            res = s.execute(update(Device).where(Device.device_id == did).values(**values))
            if res.rowcount == 0:  # type: ignore[attr-defined]
                raise ConfigError(f"device {did} is not in the registry (start an attempt first)")

    def finish_attempt(self, attempt_id: int, *, outcome: str, failing_step: str | None, reason: str | None) -> None:
        """Close a running attempt. Closing one twice is a bug in the caller and raises."""
        with self.session() as s:
            res = s.execute(update(Attempt).where(Attempt.id == attempt_id,
                                                  Attempt.outcome == Outcome.RUNNING.value)
                            .values(outcome=outcome, failing_step=failing_step, reason=reason,
                                    finished_at=utcnow()))
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise RegistryConflict(f"attempt {attempt_id} is not running (already finished or unknown)")

    def register_passed(self, attempt_id: int, *, product_id: int, lot_id: int, cloud: CloudTargets) -> None:
        """Finish the attempt as passed, bind the device and queue its cloud work in ONE transaction.

        The bind is a conditional UPDATE: it succeeds only if the device is free or already this
        product's *and* nobody registered it since this attempt started. On PostgreSQL a concurrent
        registration of the same row blocks until the first commits and then re-checks the
        condition, so exactly one of two racing stations wins.
        """
        try:
            with self.session() as s:
                self._register(s, attempt_id, product_id=product_id, lot_id=lot_id, cloud=cloud)
        except IntegrityError as exc:
            raise RegistryConflict(
                f"attempt {attempt_id}: another station registered this device at the same time") from exc

    def _register(self, s: Session, attempt_id: int, *, product_id: int, lot_id: int, cloud: CloudTargets) -> None:
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
                    registrations=Device.registrations + 1)
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

    @staticmethod
    def _attempt_device(s: Session, attempt_id: int) -> str:
        did = s.scalar(select(Attempt.device_id).where(Attempt.id == attempt_id))
        if did is None:
            raise RegistryConflict(f"attempt {attempt_id} does not exist")
        return did

    def close_abandoned_attempts(self, station: str) -> int:
        """Close this station's attempts left ``running`` by a crash; returns how many were closed."""
        with self.session() as s:
            res = s.execute(update(Attempt).where(Attempt.station == station,
                                                  Attempt.outcome == Outcome.RUNNING.value)
                            .values(outcome=Outcome.FAILED.value, reason=ABANDONED_REASON, finished_at=utcnow()))
            return int(res.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ labels and audit
    def record_label(self, device_id: str, attempt_id: int | None, *, path: str, fmt: str) -> None:
        with self._write(f"label of device {device_id}") as s:
            s.add(Label(device_id=_device_id(device_id), attempt_id=attempt_id, path=path, fmt=fmt,
                        printed_at=utcnow()))

    def audit(self, action: str, *, operator: str, station: str, device_id: str | None = None,
              details: dict[str, Any] | None = None) -> None:
        with self.session() as s:
            s.add(AuditEntry(at=utcnow(), action=action, operator=operator, station=station,
                             device_id=_device_id(device_id) if device_id else None, details=details))

    # ------------------------------------------------------------------ reads (see queries.py)
    def lots(self) -> list[LotSummary]:
        with self.reading() as s:
            return _queries.lot_summaries(s)

    def lot_by_name(self, name: str) -> LotSummary:
        with self.reading() as s:
            found = _queries.lot_summaries(s, name=name)
        if not found:
            raise ConfigError(f"unknown lot {name!r} (see `station lot list`)")
        return found[0]

    def manifest_rows(self, lot: str, *, include_failed: bool = False) -> list[ManifestRow]:
        return list(self.iter_manifest_rows(lot, include_failed=include_failed))

    def iter_manifest_rows(self, lot: str, *, include_failed: bool = False) -> Iterator[ManifestRow]:
        """Stream a lot's devices (one query, server-side cursor) so 100k rows never sit in memory twice."""
        summary = self.lot_by_name(lot)
        with self.reading() as s:
            yield from _queries.manifest_rows(s, summary.id, include_failed=include_failed)

    def lot_attempts(self, lot: str) -> list[AttemptRecord]:
        summary = self.lot_by_name(lot)
        with self.reading() as s:
            return _queries.lot_attempts(s, summary.id)

    def lot_measurements(self, lot: str) -> list[StoredMeasurement]:
        summary = self.lot_by_name(lot)
        with self.reading() as s:
            return _queries.lot_measurements(s, summary.id)

    def attempt_details(self, lot: str) -> dict[int, dict[str, list[dict[str, Any]]]]:
        """Steps and measurements per attempt of a lot (what the JSON manifest embeds)."""
        summary = self.lot_by_name(lot)
        with self.reading() as s:
            return _queries.attempt_details(s, summary.id)

    def peridio_targets(self, lot: str) -> dict[int, dict[str, Any]]:
        """Peridio payload (product/cohort PRN, tags) queued for each attempt of a lot."""
        summary = self.lot_by_name(lot)
        with self.reading() as s:
            return _queries.peridio_targets(s, summary.id)

    def product_peridio_prn(self, product_id: int) -> str | None:
        with self.reading() as s:
            return s.scalar(select(Product.peridio_product_prn).where(Product.id == product_id))

    # ------------------------------------------------------------------ cloud outbox (see outbox.py)
    def claim_outbox(self, worker: str, *, limit: int, lease: timedelta = timedelta(minutes=5),
                     target: str | None = None, stage: str | None = None) -> list[_outbox.OutboxEntry]:
        with self.session() as s:
            return _outbox.claim(s, worker, limit=limit, lease=lease, target=target, stage=stage, now=utcnow())

    def outbox_done(self, worker: str, ids: list[int], *, next_stage: str | None = None) -> int:
        with self.session() as s:
            return _outbox.done(s, worker, ids, next_stage=next_stage, now=utcnow())

    def outbox_retry_later(self, worker: str, ids: list[int], *, error: str, delay: timedelta) -> int:
        with self.session() as s:
            return _outbox.retry_later(s, worker, ids, error=error, delay=delay, now=utcnow())

    def outbox_release(self, worker: str, ids: list[int]) -> int:
        with self.session() as s:
            return _outbox.release(s, worker, ids)

    def outbox_fail(self, worker: str, failures: dict[int, str]) -> int:
        with self.session() as s:
            return _outbox.fail(s, worker, failures, now=utcnow())

    def outbox_requeue(self, *, ids: list[int] | None = None, all_failed: bool = False) -> int:
        with self.session() as s:
            return _outbox.requeue(s, ids=ids, all_failed=all_failed, now=utcnow())

    def outbox_counts(self) -> list[_outbox.OutboxCounts]:
        with self.reading() as s:
            return _outbox.counts(s)

    def outbox_entries(self, *, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self.reading() as s:
            return _outbox.entries(s, state=state, limit=limit)

    def outbox_ready(self, *, target: str | None = None) -> int:
        with self.reading() as s:
            return _outbox.ready_count(s, target=target, now=utcnow())


def _insert_ignore(dialect: str, model: type[Device]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the two dialects the station supports."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(model).on_conflict_do_nothing()
    return insert(model).prefix_with("")  # other backends: plain insert, IntegrityError on duplicates



