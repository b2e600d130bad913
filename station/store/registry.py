"""The registry: the station's record of every device, attempt, step, flash, measurement and label.

:class:`Registry` is the one object the pipeline, CLI and GUI hold. Its operations live in small
modules: the unit of work (``uow``), the attempt log written while provisioning (``attempts``),
read queries for exports and reports (``queries``) and the cloud outbox (``outbox``). Results
are plain records (``station.store.records``), never ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from station.errors import ConfigError, RegistryConflict, RegistryUnavailable
from station.store import outbox as _outbox
from station.store import queries as _queries
from station.store import views as _views
from station.store.attempts import ABANDONED_REASON, AttemptLog
from station.store.engine import default_db_url, make_engine, migrate, resolve_url
from station.store.models import Lot, Product, Profile
from station.store.records import (
    AttemptRecord,
    DeviceRecord,
    LotAggregates,
    LotRef,
    LotSummary,
    ManifestRow,
    StoredMeasurement,
)
from station.store.uow import device_id_arg, utcnow
from station.store.users import LoginRefused, UserOps, UserRecord

__all__ = ["ABANDONED_REASON", "LoginRefused", "Registry", "RegistryUnavailable", "UserRecord", "default_db_url",
           "open_registry", "utcnow"]


#: a lot name is shown on labels and screens and stored in the registry (no NUL: PostgreSQL refuses it)
LOT_NAME_LIMIT = 100


def open_registry(url: str | None = None, *, create: bool = True) -> Registry:
    """Open (and migrate to head) the registry at ``url``, ``$STATION_DB`` or the default SQLite file.

    Only what records a run may create a registry (issue 10 item 15): every other command opens
    with ``create=False`` and gets :class:`~station.store.engine.NoRegistry` (an input error, exit
    2) where there is none, instead of an empty registry that answers "no lots".
    """
    engine = make_engine(resolve_url(url), create=create)
    try:
        migrate(engine, create=create)
    except BaseException:
        engine.dispose()
        raise
    return Registry(engine)


class Registry(AttemptLog, UserOps):
    """Thread-safe facade over the registry database: catalog, attempt log, reads, outbox."""

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
        if not name.isprintable() or len(name) > LOT_NAME_LIMIT:
            raise ConfigError(f"lot name {name[:40]!r} must be printable text of at most {LOT_NAME_LIMIT} characters")
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

    # ------------------------------------------------------------------ reads (see queries.py)
    def device_record(self, device_id: str) -> DeviceRecord | None:
        with self.reading() as s:
            return _queries.device_record(s, device_id_arg(device_id))

    def find_device_ids(self, *, prefix: str | None = None, serial: str | None = None, limit: int = 11) -> list[str]:
        """Device IDs starting with ``prefix`` (hex, any case) or with serial number ``serial``."""
        with self.reading() as s:
            return _queries.device_ids_matching(s, prefix=prefix.lower() if prefix else prefix, serial=serial,
                                                limit=limit)

    def lots(self) -> list[LotSummary]:
        with self.reading() as s:
            return _queries.lot_summaries(s)

    def lot_ref(self, name: str) -> LotRef:
        """The lot called ``name`` (id, product), without counting its devices; ConfigError if unknown."""
        with self.reading() as s:
            ref = _queries.lot_ref(s, name)
        if ref is None:
            raise ConfigError(f"unknown lot {name!r} (see `station lot list`)")
        return ref

    def unlabelled_devices(self, lot: str) -> list[str]:
        """Registered devices of ``lot`` without a recorded label, by ID (issue 10 item 11)."""
        ref = self.lot_ref(lot)
        with self.reading() as s:
            return _queries.unlabelled_devices(s, ref.id)

    def unsafe_devices(self, lot: str) -> list[str]:
        """Devices of ``lot`` left unsafe to power by their latest attempt, by ID (issue 10 item 1)."""
        ref = self.lot_ref(lot)
        with self.reading() as s:
            return _queries.unsafe_devices(s, ref.id)

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
        summary = self.lot_ref(lot)
        with self.reading(consistent=True) as s:
            yield from _queries.manifest_rows(s, summary.id, include_failed=include_failed)

    def iter_manifest_device_ids(self, lot: str, *, include_failed: bool = False) -> Iterator[str]:
        """The device IDs of :meth:`iter_manifest_rows` (same devices, same order), streamed."""
        summary = self.lot_ref(lot)
        with self.reading(consistent=True) as s:
            yield from _queries.manifest_device_ids(s, summary.id, include_failed=include_failed)

    def lot_attempts(self, lot: str) -> list[AttemptRecord]:
        summary = self.lot_ref(lot)
        with self.reading() as s:
            return _queries.lot_attempts(s, summary.id)

    def lot_measurements(self, lot: str) -> list[StoredMeasurement]:
        summary = self.lot_ref(lot)
        with self.reading() as s:
            return _queries.lot_measurements(s, summary.id)

    def attempt_details(self, lot: str) -> dict[int, dict[str, list[dict[str, Any]]]]:
        """Steps and measurements per attempt of a lot, all in memory (small lots; the JSON export
        streams them instead with :meth:`iter_manifest_details`)."""
        summary = self.lot_ref(lot)
        with self.reading() as s:
            return _queries.attempt_details(s, summary.id)

    def iter_manifest_details(
        self, lot: str, *, include_failed: bool = False
    ) -> Iterator[tuple[ManifestRow, _queries.RawDetails]]:
        """Stream a lot's manifest rows, each with its attempt's steps and measurements, in bounded memory.

        Steps and measurements come as raw tuples named by ``queries.STEP_FIELDS`` and
        ``queries.MEASUREMENT_FIELDS``, each followed by its attempt's id (the last element: how the
        stream is cut per attempt); a step's details stay JSON text.
        """
        summary = self.lot_ref(lot)
        with self.reading(consistent=True) as s:
            yield from _queries.manifest_rows_with_details(s, summary.id, include_failed=include_failed)

    def lot_aggregates(self, lot: str) -> LotAggregates:
        """The lot report's figures, aggregated by the database (see ``station.ftest.report.lot_report``)."""
        with self.snapshot():
            summary = self.lot_ref(lot)
            with self.reading() as s:
                return _queries.lot_aggregates(s, summary.id)

    def peridio_targets(self, lot: str) -> dict[int, dict[str, Any]]:
        """Peridio payload (product/cohort PRN, tags) queued for each attempt of a lot."""
        summary = self.lot_ref(lot)
        with self.reading() as s:
            return _queries.peridio_targets(s, summary.id)

    def product_peridio_prn(self, product_id: int) -> str | None:
        with self.reading() as s:
            return s.scalar(select(Product.peridio_product_prn).where(Product.id == product_id))

    # ------------------------------------------------------------------ read models for tables (views.py)
    # One short read-only session per call: safe from any worker thread, never blocks the slots.
    def attempts_page(self, f: _views.AttemptFilter | None = None, *, after: int | None = None,
                      limit: int = 200) -> _views.Page[_views.AttemptRow]:
        """Attempts newest first (by sequence), filtered; keyset-paged by ``Page.next``."""
        with self.reading() as s:
            return _views.attempts_page(s, f or _views.AttemptFilter(), after=after, limit=limit)

    def attempts_count(self, f: _views.AttemptFilter | None = None) -> int:
        with self.reading() as s:
            return _views.attempts_count(s, f or _views.AttemptFilter())

    def outbox_page(self, *, state: str | None = None, target: str | None = None, text: str | None = None,
                    after: int | None = None, limit: int = 200) -> _views.Page[_views.OutboxView]:
        """Cloud entries in queue order with their timestamps and reasons; keyset-paged."""
        with self.reading() as s:
            return _views.outbox_page(s, state=state, target=target, text=text, after=after, limit=limit)

    def lot_overviews(self, *, after: int | None = None, limit: int = 100) -> _views.Page[_views.LotOverview]:
        """Lots newest first with counts, yields, devices/hour and failures by step; keyset-paged."""
        with self.reading() as s:
            return _views.lot_overviews(s, after=after, limit=limit)

    def lot_overview(self, lot: str) -> _views.LotOverview:
        with self.reading() as s:
            page = _views.lot_overviews(s, names=[lot], limit=1)
        if not page.rows:
            raise ConfigError(f"unknown lot {lot!r} (see `station lot list`)")
        return page.rows[0]

    def find_devices(self, text: str, *, limit: int = 50) -> list[_views.DeviceHit]:
        """Devices whose ID or serial number contains ``text`` (a scan, a typed fragment)."""
        with self.reading() as s:
            return _views.find_devices(s, text, limit=limit)

    def device_detail(self, device_id: str) -> _views.DeviceDetail | None:
        """A device with every attempt's steps, measurements, flashes and labels, cloud and audit."""
        with self.reading() as s:
            return _views.device_detail(s, device_id_arg(device_id))

    def audit_page(self, *, action: str | None = None, operator: str | None = None, device_id: str | None = None,
                   privileged_only: bool = False, after: int | None = None,
                   limit: int = 200) -> _views.Page[_views.AuditView]:
        with self.reading() as s:
            return _views.audit_page(s, action=action, operator=operator, device_id=device_id,
                                     privileged_only=privileged_only, after=after, limit=limit)

    # ------------------------------------------------------------------ cloud outbox (see outbox.py)
    def claim_outbox(self, worker: str, *, limit: int, lease: timedelta = timedelta(minutes=5),
                     target: str | None = None, stage: str | None = None,
                     include_simulated: bool = False) -> list[_outbox.OutboxEntry]:
        with self.session() as s:
            return _outbox.claim(s, worker, limit=limit, lease=lease, target=target, stage=stage, now=utcnow(),
                                 include_simulated=include_simulated)

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

    def outbox_requeue_waiting(self, *, ids: list[int] | None = None) -> tuple[int, int]:
        """Waiting entries (or those of ``ids`` that wait) made ready now: ``(requeued, in_flight)``."""
        with self.session() as s:
            return _outbox.requeue_waiting(s, ids=ids, now=utcnow())

    def outbox_counts(self) -> list[_outbox.OutboxCounts]:
        with self.reading() as s:
            return _outbox.counts(s)

    def outbox_entries(self, *, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self.reading() as s:
            return _outbox.entries(s, state=state, limit=limit)

    def outbox_plan(self) -> list[dict[str, Any]]:
        with self.reading() as s:
            return _outbox.pending_plan(s, now=utcnow())

    def outbox_waiting(self, *, include_simulated: frozenset[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """When each waiting entry is next tried, per (target, stage): see :func:`outbox.waiting_schedule`."""
        with self.reading() as s:
            return _outbox.waiting_schedule(s, now=utcnow(), include_simulated=include_simulated)

    def outbox_ready(self, *, target: str | None = None, include_simulated: bool = False) -> int:
        with self.reading() as s:
            return _outbox.ready_count(s, target=target, now=utcnow(), include_simulated=include_simulated)

    def outbox_simulated_pending(self, *, target: str | None = None) -> int:
        """Pending entries of simulated devices (a sync to a real cloud holds them back)."""
        with self.reading() as s:
            return _outbox.simulated_pending(s, target=target)
