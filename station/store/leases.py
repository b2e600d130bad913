"""Station liveness in the shared registry: one lease per station process, kept by a heartbeat.

A station that starts closes the attempts its crashed predecessors left ``running``. Which ones
are abandoned is a question about *processes*, and the registry is the only thing every process
of every PC on it shares, so liveness lives there (a lock file on one PC could not see a cloned
station image on another PC, nor tell two registries apart):

* every station process holds a lease row (station name, host, boot ID, pid) whose ``expires_at``
  its heartbeat thread pushes forward every ``ttl / 3``;
* every attempt names the lease of the process that runs it (``attempts.lease_id``);
* a lease is dead when it expired, or when it belongs to this very boot of this machine and its
  pid no longer exists (a ``kill -9`` on the same PC is then seen at once, not after the TTL);
* only attempts whose owner's lease is dead are closed ("station stopped during the attempt");
* a station name held by a live lease on *another* machine is refused, naming that machine:
  two PCs cloned from one image must not share a name (issue 10, item 5). Two processes of one
  station on one PC (a USB ``--watch`` beside an SWD run) are fine: each owns its attempts.

Times come from the database server on PostgreSQL (``now()``), so station clocks that disagree
or step cannot expire a live lease; on SQLite every process shares the one machine's clock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from station.domain import FAULT_STATION_STOPPED, Outcome
from station.errors import StationNameInUse
from station.procs import pid_alive

__all__ = ["StationNameInUse"]
from station.store.models import Attempt, StationLease
from station.store.spool import OwedClose
from station.store.uow import utcnow

LOG = logging.getLogger(__name__)

#: a lease not renewed for this long is dead; the heartbeat renews it three times per period
LEASE_TTL = timedelta(seconds=30)
ABANDONED_REASON = "station stopped during the attempt"
UNAVAILABLE_REASON = "registry unavailable"
_PG_LEASE_LOCK = 0x57A7_0002  # advisory lock class: one process at a time claims a station name



@dataclass(frozen=True)
class HostIdentity:
    """Which machine (and which boot of it) a process runs on."""

    host: str
    boot_id: str  # "" where the platform offers none: only lease expiry can then tell liveness
    pid: int

    @property
    def can_check_pids(self) -> bool:
        return bool(self.boot_id) and os.name == "posix"


def this_host() -> HostIdentity:
    """This process's identity. Linux gives every boot a random ID (even cloned images differ)."""
    boot = ""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        pass
    return HostIdentity(host=socket.gethostname() or "unknown-host", boot_id=boot, pid=os.getpid())


def db_now(s: Session) -> datetime:
    """The database server's clock (naive UTC) on PostgreSQL; this machine's on SQLite."""
    if s.get_bind().dialect.name == "postgresql":
        value = s.execute(text("SELECT timezone('utc', now())")).scalar_one()
        return value  # type: ignore[no-any-return]
    return utcnow()


def lease_is_dead(row: StationLease, now: datetime, me: HostIdentity) -> bool:
    if row.released_at is not None or row.expires_at <= now:
        return True
    return bool(me.can_check_pids and row.boot_id == me.boot_id and row.pid != me.pid and not pid_alive(row.pid))


def reap_dead_leases(s: Session, now: datetime, me: HostIdentity, *, owed: dict[int, OwedClose] | None = None,
                     lease_ids: list[str] | None = None) -> int:
    """End dead leases and close their running attempts; returns how many attempts were closed.

    ``owed`` holds the closes of attempts whose owner knew how they ended but could not write it
    (the registry was unavailable, spool.py); the others are closed as abandoned.
    """
    q = select(StationLease).where(StationLease.ended_by.is_(None))
    if lease_ids is not None:
        q = q.where(StationLease.id.in_(lease_ids))
    dead = [row for row in s.scalars(q.with_for_update()) if lease_is_dead(row, now, me)]
    closed = 0
    for row in dead:
        for aid in s.scalars(select(Attempt.id).where(Attempt.lease_id == row.id,
                                                       Attempt.outcome == Outcome.RUNNING.value)):
            closed += close_attempt(s, aid, now, (owed or {}).get(aid))
        row.released_at = row.released_at or now
        row.ended_by = f"expired; found by {me.host} pid {me.pid}"
    return closed


def close_attempt(s: Session, attempt_id: int, now: datetime, owed: OwedClose | None = None) -> int:
    """Close a running attempt its owner left behind. Abandoned (``owed`` None: the process
    stopped, killed or a worker that died) it is a station error, not a failed unit; a close owed
    from an outage is written as its owner meant it, fault included (a registry-unavailable end
    stays a station error, a unit judged before the outage stays that unit's result)."""
    values: dict[str, Any] = (
        {"outcome": Outcome.FAILED.value, "reason": ABANDONED_REASON, "fault": FAULT_STATION_STOPPED}
        if owed is None else
        {"outcome": owed.outcome, "failing_step": owed.failing_step, "reason": owed.reason, "fault": owed.fault})
    res = s.execute(update(Attempt).where(Attempt.id == attempt_id, Attempt.outcome == Outcome.RUNNING.value)
                    .values(finished_at=now, **values))
    return int(res.rowcount)  # type: ignore[attr-defined]


def describe(row: StationLease, now: datetime) -> str:
    ago = max(0, int((now - row.heartbeat_at).total_seconds()))
    return f"host {row.host} (pid {row.pid}, last heartbeat {ago} s ago)"


class LeaseKeeper:
    """This process's lease on one station name, and the thread that keeps it alive.

    ``lost`` is set when another process found the lease expired and ended it (this process
    stalled past the TTL): its attempts may have been closed, and the station must stop.
    ``on_reconnect`` runs after a heartbeat succeeds again following failed ones (the registry
    came back): the registry closes the attempts it could not close while it was away.
    """

    def __init__(self, uow: Any, lease_id: str, station: str, me: HostIdentity, ttl: timedelta,
                 on_reconnect: Callable[[], None] | None = None) -> None:
        self._uow = uow
        self.id = lease_id
        self.station = station
        self.me = me
        self.ttl = ttl
        self.lost = threading.Event()
        self.healthy = True
        self._on_reconnect = on_reconnect
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.station}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = max(0.05, self.ttl.total_seconds() / 3)
        while not self._stop.wait(period):
            self.beat()
            if self.lost.is_set():
                return

    def beat(self) -> bool:
        """Renew the lease once; False when the registry could not be reached (it is retried)."""
        try:
            with self._uow.session() as s:
                now = db_now(s)
                res = s.execute(update(StationLease)
                                .where(StationLease.id == self.id, StationLease.ended_by.is_(None))
                                .values(heartbeat_at=now, expires_at=now + self.ttl))
                if res.rowcount != 1:
                    LOG.error("station %s: another process ended this process's lease (it stalled past %s s)",
                              self.station, self.ttl.total_seconds())
                    self.lost.set()
                    return True
        except Exception as exc:  # a heartbeat thread must outlive any database trouble
            if self.healthy:
                LOG.error("station %s: registry heartbeat failed: %s", self.station, exc)
            self.healthy = False
            return False
        if not self.healthy:
            self.healthy = True
            LOG.warning("station %s: the registry is reachable again", self.station)
            if self._on_reconnect:
                self._on_reconnect()
        return True

    def release(self) -> None:
        """End the lease (process exit); its attempts must already be closed."""
        self._stop.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            with self._uow.session() as s:
                now = db_now(s)
                s.execute(update(StationLease).where(StationLease.id == self.id, StationLease.ended_by.is_(None))
                          .values(released_at=now, expires_at=now, ended_by="released"))
        except Exception as exc:  # at exit the database may be gone; the lease then simply expires
            LOG.warning("station %s: could not release its lease (it will expire): %s", self.station, exc)


def claim(s: Session, station: str, me: HostIdentity, ttl: timedelta,
          owed: dict[int, OwedClose] | None = None) -> tuple[str, int]:
    """Take a lease on ``station`` inside the caller's transaction; returns (lease id, attempts closed).

    Serialised per registry (PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE``) so two PCs
    starting at once cannot both find the name free.
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(:n))"), {"k": _PG_LEASE_LOCK, "n": station})
    now = db_now(s)
    closed = reap_dead_leases(s, now, me, owed=owed)
    live = list(s.scalars(select(StationLease).where(StationLease.station == station,
                                                     StationLease.ended_by.is_(None))))
    elsewhere = [row for row in live if not _same_machine(row, me)]
    if elsewhere:
        raise StationNameInUse(
            f"station name {station!r} is in use on this registry by {describe(elsewhere[0], now)}: "
            "two PCs must not share a station name (a cloned image keeps it); give this one its own "
            "name (--station) or stop the other")
    if not live:
        # Attempts from before leases existed (no owner) belong to the station's previous runs:
        # with no other live process of this name they are abandoned, as the lock file decided before.
        for aid in s.scalars(select(Attempt.id).where(Attempt.station == station, Attempt.lease_id.is_(None),
                                                       Attempt.outcome == Outcome.RUNNING.value)):
            closed += close_attempt(s, aid, now, (owed or {}).get(aid))
    lease_id = uuid.uuid4().hex
    s.add(StationLease(id=lease_id, station=station, host=me.host, boot_id=me.boot_id, pid=me.pid,
                       started_at=now, heartbeat_at=now, expires_at=now + ttl))
    return lease_id, closed


def _same_machine(row: StationLease, me: HostIdentity) -> bool:
    if me.boot_id:
        return row.boot_id == me.boot_id
    return row.host == me.host


def live_lease_count(s: Session, station: str) -> int:
    now = db_now(s)
    return int(s.scalar(select(func.count()).select_from(StationLease).where(
        StationLease.station == station, StationLease.ended_by.is_(None), StationLease.expires_at > now)) or 0)
