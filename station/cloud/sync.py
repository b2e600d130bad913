"""Draining the cloud outbox: claim entries, send them in batches, settle each one.

Every claimed entry ends the pass settled: done (or moved to its next stage), parked as failed
with a reason, rescheduled with backoff, or released untouched. A drainer interrupted in the
middle releases what it still holds; one that is killed leaves leases that expire. Several
drainers (one per station) can run at once against PostgreSQL: claims skip locked rows.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from station.cloud.credentials import how_to_configure
from station.cloud.http import MAX_SERVER_DELAY_S
from station.cloud.particle import ParticleClient
from station.cloud.peridio import PeridioClient
from station.cloud.redact import Redactor
from station.errors import CloudRejected, CloudUnavailable
from station.store.outbox import PARTICLE, PERIDIO
from station.store.records import OutboxEntry
from station.store.registry import Registry

Log = Callable[[str], None]


@dataclass(frozen=True)
class OutboxBackoff:
    """Delay before an entry is tried again after a failed drain; grows with its tries."""

    base_s: float = 30.0
    cap_s: float = 900.0

    def delay(self, tries: int) -> timedelta:
        span = min(self.cap_s, self.base_s * (2 ** min(tries, 20)))
        return timedelta(seconds=span * random.uniform(0.5, 1.0))


@dataclass
class SyncReport:
    imported: int = 0
    grouped: int = 0
    needs_attention: int = 0
    rescheduled: int = 0
    requests: int = 0
    #: pending entries of simulated devices not sent because the target is a real cloud
    held_back: int = 0
    missing_credentials: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, other: SyncReport) -> None:
        for name in ("imported", "grouped", "needs_attention", "rescheduled", "requests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.held_back = other.held_back  # a count of what is queued now, not of work done: the latest pass's
        self.missing_credentials = sorted(set(self.missing_credentials) | set(other.missing_credentials))
        self.problems.extend(other.problems)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{threading.get_ident()}:{random.getrandbits(32):08x}"


class Drainer:
    """Drains the outbox of one registry; a client of ``None`` means that target has no credential.

    Entries of simulated devices (a twin produced them) go only to the targets named in
    ``simulated_ok`` — clouds that are twins themselves (:func:`station.cloud.http.is_local_url`);
    a real cloud product never receives a twin's ID, and the report counts what was held back.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        particle: ParticleClient | None,
        peridio: PeridioClient | None,
        worker: str | None = None,
        batch: int = 250,
        backoff: OutboxBackoff | None = None,
        log: Log = lambda _msg: None,
        simulated_ok: frozenset[str] = frozenset(),
    ) -> None:
        self.registry = registry
        self.simulated_ok = simulated_ok
        self.particle = particle
        self.peridio = peridio
        self.worker = worker or default_worker_name()
        self.batch = batch
        self.backoff = backoff or OutboxBackoff()
        #: every sink this drainer writes (registry rows, log lines, report problems) goes through it
        self.redact = Redactor([*(particle.redact.secrets if particle else ()),
                                *(peridio.redact.secrets if peridio else ())])
        self.log: Log = lambda msg: log(self.redact(msg))
        self._lease_ends = 0.0
        self._longest = 0.0

    # ------------------------------------------------------------------ one pass
    def drain_once(self) -> SyncReport:
        """Send everything that is ready now; stops a target early when its API is unreachable."""
        report = SyncReport()
        report.held_back = sum(self.registry.outbox_simulated_pending(target=t)
                               for t in (PARTICLE, PERIDIO) if t not in self.simulated_ok)
        if self.particle is None:
            if self.registry.outbox_ready(target=PARTICLE, include_simulated=PARTICLE in self.simulated_ok):
                report.missing_credentials.append(PARTICLE)
                report.problems.append(how_to_configure(PARTICLE))
        else:
            for stage in ("import", "groups"):
                if not self._drain(PARTICLE, stage, report):
                    break
        if self.peridio is None:
            if self.registry.outbox_ready(target=PERIDIO, include_simulated=PERIDIO in self.simulated_ok):
                report.missing_credentials.append(PERIDIO)
                report.problems.append(how_to_configure(PERIDIO))
        else:
            self._drain(PERIDIO, "create", report)
        return report

    def _drain(self, target: str, stage: str, report: SyncReport) -> bool:
        """Claim and send batches until none is ready; False when the API is unreachable."""
        # A claim's lease outlives every request made under it (issue 10 item 8): otherwise a slow
        # request lets the lease expire and another drainer sends the same entries.
        client = self.particle if target == PARTICLE else self.peridio
        longest = client.policy.longest_call_s() if client is not None else 60.0
        lease_s = max(300.0, 2 * longest)
        # Peridio sends one request per entry: claim only as many as the lease covers
        limit = self.batch if target == PARTICLE else max(1, int(lease_s // longest) - 1)
        while True:
            entries = self.registry.claim_outbox(self.worker, limit=limit, target=target, stage=stage,
                                                 include_simulated=target in self.simulated_ok,
                                                 lease=timedelta(seconds=lease_s))
            if not entries:
                return True
            held = {e.id for e in entries}
            self._lease_ends = time.monotonic() + lease_s
            self._longest = longest
            try:
                ok = self._send(target, stage, entries, held, report)
            finally:
                if held:  # interrupted (Ctrl-C, bug): give back what was not settled
                    self.registry.outbox_release(self.worker, sorted(held))
            if not ok:
                return False

    def _send(self, target: str, stage: str, entries: list[OutboxEntry], held: set[int], report: SyncReport) -> bool:
        groups: dict[tuple[Any, ...], list[OutboxEntry]] = defaultdict(list)
        for e in entries:
            p = e.payload
            if target == PARTICLE and stage == "import":
                key: tuple[Any, ...] = (p["product"], bool(p.get("import_sims")), p.get("claim_user"))
            elif target == PARTICLE:
                key = (p["product"], tuple(p.get("groups") or ()))
            else:
                key = (e.id,)
            groups[key].append(e)
        for key, batch in groups.items():
            if time.monotonic() + self._longest > self._lease_ends:
                return True  # no request may outlive the lease: the rest is released and claimed again
            try:
                self._send_batch(target, stage, key, batch, held, report)
            except CloudUnavailable as exc:
                # network or service down: every unsent entry stays queued with backoff
                pending = [e for e in entries if e.id in held]
                tried = {e.id for e in batch}
                # each entry keeps its own reason: the one being sent gets the failure, the others
                # were never sent in this pass and must not carry another device's name
                own = self.redact(str(exc))
                untried = f"not sent: the {target} API was unavailable in this pass"
                for (tries, was_tried), ids in _by_tries_and_sent(pending, tried).items():
                    delay = self.backoff.delay(tries)
                    if exc.retry_after is not None:
                        delay = max(delay, timedelta(seconds=min(exc.retry_after, MAX_SERVER_DELAY_S)))
                    report.rescheduled += self.registry.outbox_retry_later(
                        self.worker, ids, error=own if was_tried else untried, delay=delay)
                held.clear()
                report.problems.append(self.redact(str(exc)))
                self.log(f"{exc}; {len(pending)} entries stay queued")
                return False
            except CloudRejected as exc:
                ids = [e.id for e in batch]
                reason = self.redact(str(exc))
                report.needs_attention += self.registry.outbox_fail(self.worker, {i: reason for i in ids})
                held.difference_update(ids)
                report.problems.append(reason)
                self.log(f"{exc}; {len(ids)} entries need attention")
        return True

    def _send_batch(self, target: str, stage: str, key: tuple[Any, ...], batch: list[OutboxEntry], held: set[int],
                    report: SyncReport) -> None:
        ids = [e.id for e in batch]
        if target == PARTICLE and stage == "import":
            assert self.particle is not None
            product, import_sims, claim_user = key
            report.requests += 1
            result = self.particle.import_devices(product, [e.device_id for e in batch], import_sims=import_sims,
                                                  claim_user=claim_user)
            ok_plain = [e.id for e in batch if e.device_id in result.imported and not e.payload.get("groups")]
            ok_grouped = [e.id for e in batch if e.device_id in result.imported and e.payload.get("groups")]
            bad = {e.id: self.redact(f"Particle product {product}: {result.attention[e.device_id]}")
                   for e in batch if e.device_id in result.attention}
            report.imported += self.registry.outbox_done(self.worker, ok_plain)
            self.registry.outbox_done(self.worker, ok_grouped, next_stage="groups")
            report.imported += len(ok_grouped)
            report.needs_attention += self.registry.outbox_fail(self.worker, bad)
            for eid, reason in bad.items():
                self.log(f"outbox entry {eid}: {reason}")
        elif target == PARTICLE:
            assert self.particle is not None
            product, group_names = key
            report.requests += 1
            self.particle.add_to_groups(product, [e.device_id for e in batch], list(group_names))
            report.grouped += self.registry.outbox_done(self.worker, ids)
        else:
            assert self.peridio is not None
            (e,) = batch
            report.requests += 1
            self.peridio.create_device(e.device_id, product_prn=str(e.payload["product_prn"]),
                                       cohort_prn=e.payload.get("cohort_prn"),
                                       tags=list(e.payload.get("tags") or []))
            report.imported += self.registry.outbox_done(self.worker, ids)
        held.difference_update(ids)

    # ------------------------------------------------------------------ watch mode
    def watch(self, *, interval_s: float, stop: threading.Event, max_time_s: float | None = None,
              on_pass: Callable[[SyncReport], None] = lambda _r: None) -> SyncReport:
        """Drain, wait, drain again until ``stop`` is set or ``max_time_s`` elapses (both interrupt the wait)."""
        total = SyncReport()
        deadline = None if max_time_s is None else time.monotonic() + max_time_s
        while not stop.is_set():
            r = self.drain_once()
            total.add(r)
            on_pass(r)
            wait = interval_s
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            if stop.wait(wait):
                break
        return total


def _by_tries_and_sent(entries: list[OutboxEntry], tried: set[int]) -> dict[tuple[int, bool], list[int]]:
    out: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for e in entries:
        out[(e.tries, e.id in tried)].append(e.id)
    return out


def plan(registry: Registry) -> list[dict[str, Any]]:
    """What a drain would send (``--dry-run``): pending entries per target and stage; no network, no claims."""
    return registry.outbox_plan()
