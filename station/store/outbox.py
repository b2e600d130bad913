"""The cloud outbox inside the registry: queueing, claiming and settling entries.

Entries are written in the registration transaction, so a device is never bound without its
cloud work (and never queued without being bound). Drainers claim entries with a lease:
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several stations drain one queue without
sending an entry twice; on SQLite the whole claim runs in one ``BEGIN IMMEDIATE`` transaction,
which serialises claimers. A drainer that dies leaves its lease to expire, after which another
drainer takes the entry over (re-sending an import is harmless: the cloud reports it as existing).

States: ``pending`` (to send; ``stage`` says which call is next), ``imported`` (done) and
``failed`` (parked: the cloud refused it for a reason a person must look at). A pending entry
whose ``next_try_at`` lies ahead is *waiting* (a server delay, a backoff); ``cloud retry`` can make
it ready again, as it can a failed one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from station.domain import rfc3339
from station.store.models import Device, OutboxRow
from station.store.records import CloudTargets, OutboxCounts, OutboxEntry

__all__ = ["OutboxCounts", "OutboxEntry"]

PENDING, IMPORTED, FAILED = "pending", "imported", "failed"
PARTICLE, PERIDIO = "particle", "peridio"


def queue_for(s: Session, *, device_id: str, attempt_id: int, cloud: CloudTargets, now: datetime) -> None:
    """Add one entry per configured cloud target (called inside the registration transaction)."""
    rows: list[OutboxRow] = []
    if cloud.particle_product:
        payload: dict[str, Any] = {"product": cloud.particle_product, "groups": list(cloud.particle_groups),
                                   "import_sims": bool(cloud.import_sims), "claim_user": cloud.claim_user}
        rows.append(_row(device_id, attempt_id, PARTICLE, "import", payload, now))
    if cloud.peridio_product_prn:
        payload = {"product_prn": cloud.peridio_product_prn, "cohort_prn": cloud.peridio_cohort_prn,
                   "tags": list(cloud.peridio_tags)}
        rows.append(_row(device_id, attempt_id, PERIDIO, "create", payload, now))
    s.add_all(rows)


def _row(device_id: str, attempt_id: int, target: str, stage: str, payload: dict[str, Any],
         now: datetime) -> OutboxRow:
    return OutboxRow(device_id=device_id, attempt_id=attempt_id, target=target, stage=stage, payload=payload,
                     state=PENDING, tries=0, next_try_at=now, created_at=now)


def _ready(now: datetime) -> Any:
    return (OutboxRow.state == PENDING) & (OutboxRow.next_try_at <= now) & or_(
        OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now)


def _simulated() -> Any:
    """Entries of devices a digital twin produced (never for a real cloud)."""
    return OutboxRow.device_id.in_(select(Device.device_id).where(Device.simulated.is_(True)))


def claim(s: Session, worker: str, *, limit: int, lease: timedelta, target: str | None, stage: str | None,
          now: datetime, include_simulated: bool = False) -> list[OutboxEntry]:
    """Claim ready entries; those of simulated devices only with ``include_simulated`` (a twin cloud)."""
    q = select(OutboxRow).where(_ready(now)).order_by(OutboxRow.id).limit(limit)
    if not include_simulated:
        q = q.where(~_simulated())
    if target:
        q = q.where(OutboxRow.target == target)
    if stage:
        q = q.where(OutboxRow.stage == stage)
    rows = list(s.scalars(q.with_for_update(skip_locked=True)))
    for r in rows:
        r.claimed_by = worker
        r.claimed_until = now + lease
    return [OutboxEntry(id=r.id, device_id=r.device_id, target=r.target, stage=r.stage, payload=dict(r.payload),
                        tries=r.tries) for r in rows]


def _mine(worker: str, ids: list[int]) -> Any:
    return OutboxRow.id.in_(ids) & (OutboxRow.claimed_by == worker) & (OutboxRow.state == PENDING)


def done(s: Session, worker: str, ids: list[int], *, next_stage: str | None, now: datetime) -> int:
    """Settle claimed entries as done, or move them to their next stage (still pending, ready now)."""
    if not ids:
        return 0
    values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_error": None}
    if next_stage:
        values.update(stage=next_stage, next_try_at=now, tries=0)
    else:
        values.update(state=IMPORTED, done_at=now)
    return int(s.execute(update(OutboxRow).where(_mine(worker, ids)).values(**values)).rowcount)  # type: ignore[attr-defined]


def retry_later(s: Session, worker: str, ids: list[int], *, error: str, delay: timedelta, now: datetime) -> int:
    if not ids:
        return 0
    res = s.execute(update(OutboxRow).where(_mine(worker, ids)).values(
        claimed_by=None, claimed_until=None, last_error=error[:2000], tries=OutboxRow.tries + 1,
        next_try_at=now + delay))
    return int(res.rowcount)  # type: ignore[attr-defined]


def release(s: Session, worker: str, ids: list[int]) -> int:
    """Give claimed entries back untouched (credentials missing, drain interrupted)."""
    if not ids:
        return 0
    res = s.execute(update(OutboxRow).where(_mine(worker, ids)).values(claimed_by=None, claimed_until=None))
    return int(res.rowcount)  # type: ignore[attr-defined]


def fail(s: Session, worker: str, failures: dict[int, str], *, now: datetime) -> int:
    """Park entries the cloud will never accept as they are; the reason is what an engineer reads."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    for i, reason in failures.items():
        by_reason[reason].append(i)
    n = 0
    for reason, ids in by_reason.items():
        res = s.execute(update(OutboxRow).where(_mine(worker, ids)).values(
            state=FAILED, claimed_by=None, claimed_until=None, last_error=reason[:2000],
            tries=OutboxRow.tries + 1, done_at=now))
        n += int(res.rowcount)  # type: ignore[attr-defined]
    return n


def requeue(s: Session, *, ids: list[int] | None, all_failed: bool, now: datetime) -> int:
    """Put parked entries back in the queue (an engineer fixed the cause, e.g. transferred a device)."""
    cond = OutboxRow.state == FAILED
    if ids is not None:
        cond = cond & OutboxRow.id.in_(ids)
    elif not all_failed:
        return 0
    res = s.execute(update(OutboxRow).where(cond).values(
        state=PENDING, next_try_at=now, claimed_by=None, claimed_until=None, done_at=None))
    return int(res.rowcount)  # type: ignore[attr-defined]


def _waiting(now: datetime) -> Any:
    """Pending entries held back by a server delay or backoff, and not in a live drainer's hands."""
    return (OutboxRow.state == PENDING) & (OutboxRow.next_try_at > now) & or_(
        OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now)


def _in_flight(now: datetime) -> Any:
    return (OutboxRow.state == PENDING) & (OutboxRow.claimed_until >= now)


def requeue_waiting(s: Session, *, ids: list[int] | None, now: datetime) -> tuple[int, int]:
    """Make waiting entries ready now (a server asked for a delay that is no longer wanted).

    Returns ``(requeued, in_flight)``: entries a live drainer holds under its lease are left alone,
    since making them ready would let a second drainer send them while the first one still does.
    Their tries and last reason are kept: the history of why they waited stays readable.
    """
    cond = _waiting(now)
    busy = _in_flight(now)
    if ids is not None:
        cond = cond & OutboxRow.id.in_(ids)
        busy = busy & OutboxRow.id.in_(ids)
    res = s.execute(update(OutboxRow).where(cond).values(next_try_at=now))
    in_flight = int(s.scalar(select(func.count()).select_from(OutboxRow).where(busy)) or 0)
    return int(res.rowcount), in_flight  # type: ignore[attr-defined]


def counts(s: Session) -> list[OutboxCounts]:
    table: dict[str, dict[str, int]] = defaultdict(lambda: {PENDING: 0, IMPORTED: 0, FAILED: 0})
    for target, state, n in s.execute(
            select(OutboxRow.target, OutboxRow.state, func.count()).group_by(OutboxRow.target, OutboxRow.state)):
        table[target][state] = n
    return [OutboxCounts(target=t, pending=c[PENDING], imported=c[IMPORTED], failed=c[FAILED])
            for t, c in sorted(table.items())]


def ready_count(s: Session, *, target: str | None, now: datetime, include_simulated: bool = False) -> int:
    q = select(func.count()).select_from(OutboxRow).where(_ready(now))
    if not include_simulated:
        q = q.where(~_simulated())
    if target:
        q = q.where(OutboxRow.target == target)
    return int(s.scalar(q) or 0)


def simulated_pending(s: Session, *, target: str | None) -> int:
    """Pending entries of simulated devices: what a sync to a real cloud holds back."""
    q = select(func.count()).select_from(OutboxRow).where((OutboxRow.state == PENDING) & _simulated())
    if target:
        q = q.where(OutboxRow.target == target)
    return int(s.scalar(q) or 0)


def entries(s: Session, *, state: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(OutboxRow).order_by(OutboxRow.id).limit(limit)
    if state:
        q = q.where(OutboxRow.state == state)
    return [{"id": r.id, "device_id": r.device_id, "target": r.target, "stage": r.stage, "state": r.state,
             "tries": r.tries, "last_error": r.last_error,
             "next_try_at": rfc3339(r.next_try_at) if r.next_try_at else None}
            for r in s.scalars(q)]


def pending_plan(s: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Pending entries per target and stage, split into ready now and waiting for their backoff.

    ``ready`` counts real devices; ``ready_simulated`` the simulated ones that are ready, which only
    a twin cloud receives; ``simulated`` every pending entry of a simulated device.
    """
    ready = func.sum(case((_ready(now) & ~_simulated(), 1), else_=0))
    ready_sim = func.sum(case((_ready(now) & _simulated(), 1), else_=0))
    simulated = func.sum(case((_simulated(), 1), else_=0))
    q = (select(OutboxRow.target, OutboxRow.stage, func.count(), ready, ready_sim, simulated)
         .where(OutboxRow.state == PENDING).group_by(OutboxRow.target, OutboxRow.stage)
         .order_by(OutboxRow.target, OutboxRow.stage))
    return [{"target": t, "stage": st, "entries": int(n), "ready": int(r or 0), "ready_simulated": int(rs or 0),
             "simulated": int(m or 0)}
            for t, st, n, r, rs, m in s.execute(q)]


def waiting_schedule(s: Session, *, now: datetime, max_times: int = 10, ids_per_time: int = 10,
                     include_simulated: frozenset[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """When the pending entries that are not ready are next tried, per target and stage (``cloud status``).

    An entry waits for its backoff or a server's delay (``next_try_at``) or is claimed by a drainer
    that is sending it now (``claimed_until``); the first kind is grouped by the time it is next
    tried (one failed pass gives a few distinct times), earliest first, up to ``max_times`` times
    with up to ``ids_per_time`` entry IDs each, so a queue of 100k stays a few lines.
    ``include_simulated`` names the targets whose simulated entries count (a twin cloud); for the
    others they are left out, since a drain to a real cloud holds them back whatever their time.
    ``None`` counts every entry.
    """
    base = (OutboxRow.state == PENDING) & (OutboxRow.next_try_at > now) & or_(
        OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now)
    claimed = (OutboxRow.state == PENDING) & (OutboxRow.claimed_until >= now)

    def scope(q: Any, target: str) -> Any:
        if include_simulated is not None and target not in include_simulated:
            q = q.where(~_simulated())
        return q

    out: dict[tuple[str, str], dict[str, Any]] = {}
    keys = s.execute(select(OutboxRow.target, OutboxRow.stage).where(OutboxRow.state == PENDING)
                     .group_by(OutboxRow.target, OutboxRow.stage)).all()
    for target, stage in keys:
        mine = (OutboxRow.target == target) & (OutboxRow.stage == stage)
        times = s.execute(scope(select(OutboxRow.next_try_at, func.count()).where(base & mine), target)
                          .group_by(OutboxRow.next_try_at).order_by(OutboxRow.next_try_at)).all()
        n_claimed = int(s.scalar(scope(select(func.count()).select_from(OutboxRow).where(claimed & mine),
                                       target)) or 0)
        if not times and not n_claimed:
            continue
        groups = []
        for at, n in times[:max_times]:
            ids = list(s.scalars(scope(select(OutboxRow.id).where(base & mine & (OutboxRow.next_try_at == at)),
                                       target).order_by(OutboxRow.id).limit(ids_per_time)))
            groups.append({"at": rfc3339(at), "in_s": max(0, round((at - now).total_seconds())),
                           "entries": int(n), "ids": ids})
        out[(target, stage)] = {
            "waiting": sum(int(n) for _, n in times), "claimed": n_claimed, "next_tries": groups,
            "more_times": max(0, len(times) - max_times),
            "last_try_at": rfc3339(times[-1][0]) if times else None}
    return out
