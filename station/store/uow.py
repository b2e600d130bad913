"""Unit of work for the registry: one short session per operation, errors translated at the edge.

Every public registry method opens its own session in the calling thread, commits, and closes
(rolled back if anything raises), so several slots can share one registry object without
sharing sessions. SQLAlchemy errors leave as station errors: a race with another station as
RegistryConflict, an unreachable or locked database as RegistryUnavailable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, InternalError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from station.domain import normalize_device_id
from station.errors import ConfigError, RegistryConflict, RegistryUnavailable, StationError

__all__ = ["RegistryConflict", "RegistryReadOnly", "RegistryUnavailable", "StationError", "UnitOfWork"]
from station.store.engine import RegistryReadOnly, read_only, snapshot_reads, translate


def utcnow() -> datetime:
    """Naive UTC: what the tables store, identical on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc_naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def device_id_arg(text: str) -> str:
    try:
        return normalize_device_id(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


#: what the database says when it, its disk or its connection is the problem (a ProgrammingError
#: stays a bug; IntegrityError passes through for the callers that re-read after a race)
_OUTAGES = (OperationalError, InterfaceError, InternalError)


class UnitOfWork:
    """Owns the engine and hands out sessions; the registry's operation classes build on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(read_only(engine), expire_on_commit=False)
        self._snapshot_sessions = sessionmaker(snapshot_reads(engine), expire_on_commit=False)
        #: the session of this thread's open :meth:`snapshot`, which its reads share
        self._pinned = threading.local()
        #: why the registry is unreachable right now (None while it answers); slots check it at
        #: every step boundary so the whole station stops when its record of truth is gone
        self.outage: str | None = None

    def close(self) -> None:
        self.engine.dispose()

    def _failed(self, exc: BaseException) -> StationError:
        err = translate(exc)  # type: ignore[arg-type]
        if isinstance(err, RegistryUnavailable):
            self.outage = str(err)
        return err

    def _answered(self) -> None:
        if self.outage is not None:
            self.outage = None
            self.registry_returned()

    def registry_returned(self) -> None:
        """Called once after an outage, when a unit of work succeeds again (see AttemptLog)."""

    def check_available(self) -> None:
        """Raise RegistryUnavailable while the registry is known to be unreachable."""
        if self.outage is not None:
            raise RegistryUnavailable(self.outage)

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
        except _OUTAGES as exc:
            raise self._failed(exc) from exc
        self._answered()

    @contextmanager
    def reading(self, *, consistent: bool = False) -> Iterator[Session]:
        """A read unit of work that never takes SQLite's write lock.

        Inside :meth:`snapshot` it is the snapshot's session. ``consistent``: the statements of
        this one unit of work see one state (REPEATABLE READ on PostgreSQL), for several cursors
        that stream side by side.
        """
        pinned: Session | None = getattr(self._pinned, "session", None)
        if pinned is not None:
            yield pinned
            return
        sessions = self._snapshot_sessions if consistent else self._read_sessions
        try:
            with sessions() as s, s.begin():
                yield s
        except _OUTAGES as exc:
            raise self._failed(exc) from exc
        self._answered()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read this thread makes until the end sees the same committed state of the registry.

        For reads that must agree with each other (an export's lot, rows, steps and measurements;
        a report's counts): one read-only transaction, REPEATABLE READ on PostgreSQL
        (:func:`~station.store.engine.snapshot_reads`). Nested snapshots share the outer one.
        Not for a generator that a caller may leave unfinished: the pin would outlive its use.
        """
        if getattr(self._pinned, "session", None) is not None:
            yield
            return
        try:
            with self._snapshot_sessions() as s, s.begin():
                self._pinned.session = s
                try:
                    yield
                finally:
                    self._pinned.session = None
        except _OUTAGES as exc:
            raise self._failed(exc) from exc
        self._answered()

    @contextmanager
    def _write(self, what: str) -> Iterator[Session]:
        """A unit of work whose integrity errors mean the caller referred to something unknown."""
        try:
            with self.session() as s:
                yield s
        except IntegrityError as exc:
            raise RegistryConflict(f"{what}: the registry refused it ({exc.orig})") from exc
