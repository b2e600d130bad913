"""Draining the outbox end to end: registry → Drainer → fake Particle/Peridio APIs → registry."""

from __future__ import annotations

from datetime import timedelta

from fake_cloud import FakeParticle, FakePeridio
from outbox_helpers import device_ids, register_devices
from sqlalchemy import select

from station.cloud.http import RetryPolicy
from station.cloud.particle import ParticleClient
from station.cloud.peridio import PeridioClient
from station.cloud.sync import Drainer, OutboxBackoff
from station.store import Registry
from station.store.models import OutboxRow
from station.store.records import CloudTargets

FAST = RetryPolicy(attempts=2, base_s=0.01, cap_s=0.02, timeout_s=(1.0, 1.0))
PARTICLE = CloudTargets(particle_product="widget-1", particle_groups=["line-a"], import_sims=True)
PERIDIO = CloudTargets(peridio_product_prn="prn:1:abc:product:widget", peridio_cohort_prn="prn:1:abc:cohort:c1",
                       peridio_tags=["factory"])


def drainer(reg: Registry, particle: FakeParticle | None = None, peridio: FakePeridio | None = None,
            batch: int = 250) -> Drainer:
    return Drainer(
        reg,
        particle=ParticleClient(particle.secret, particle.url, policy=FAST) if particle else None,
        peridio=PeridioClient(peridio.secret, peridio.url, policy=FAST) if peridio else None,
        batch=batch,
        backoff=OutboxBackoff(base_s=60, cap_s=600),
    )


def counts(reg: Registry) -> dict[str, tuple[int, int, int]]:
    return {c.target: (c.pending, c.imported, c.failed) for c in reg.outbox_counts()}


def test_particle_import_then_groups_in_batches(registry: Registry, fake_particle: FakeParticle) -> None:
    ids = register_devices(registry, device_ids(7), PARTICLE)
    report = drainer(registry, fake_particle, batch=3).drain_once()
    assert fake_particle.products["widget-1"] == set(ids)
    assert all(fake_particle.groups["widget-1"][d] == {"line-a"} for d in ids)
    imports = [r for r in fake_particle.requests if r[0] == "POST"]
    assert [len(r[2]["ids"]) for r in imports] == [3, 3, 1]  # batched, not one request per device
    assert all(r[2]["import_sims"] is True for r in imports)
    assert report.imported == 7 and report.grouped == 7
    assert counts(registry) == {"particle": (0, 7, 0)}


def test_a_done_entry_is_never_sent_again(registry: Registry, fake_particle: FakeParticle) -> None:
    register_devices(registry, device_ids(4), CloudTargets(particle_product="widget-1"))
    d = drainer(registry, fake_particle)
    d.drain_once()
    sent = len(fake_particle.requests)
    second = d.drain_once()
    assert len(fake_particle.requests) == sent and second.requests == 0
    assert max(fake_particle.import_counts.values()) == 1


def test_partial_success_parks_only_the_refused_devices(registry: Registry, fake_particle: FakeParticle) -> None:
    ids = register_devices(registry, device_ids(4), CloudTargets(particle_product="widget-1"))
    fake_particle.nonmember.add(ids[1])
    fake_particle.protected.add(ids[3])
    report = drainer(registry, fake_particle).drain_once()
    assert report.imported == 2 and report.needs_attention == 2
    failed = {e["device_id"]: e["last_error"] for e in registry.outbox_entries(state="failed")}
    assert set(failed) == {ids[1], ids[3]}
    assert "non-member" in failed[ids[1]] and "protected" in failed[ids[3]]


def test_retry_of_a_parked_entry_after_the_cause_is_fixed(registry: Registry, fake_particle: FakeParticle) -> None:
    ids = register_devices(registry, device_ids(2), CloudTargets(particle_product="widget-1"))
    fake_particle.nonmember.add(ids[0])
    d = drainer(registry, fake_particle)
    d.drain_once()
    assert counts(registry)["particle"] == (0, 1, 1)
    fake_particle.nonmember.clear()  # the engineer released the device from the other account
    assert registry.outbox_requeue(all_failed=True) == 1
    d.drain_once()
    assert counts(registry)["particle"] == (0, 2, 0)


def test_network_down_keeps_entries_queued_with_backoff(registry: Registry) -> None:
    register_devices(registry, device_ids(3), CloudTargets(particle_product="widget-1"))
    d = Drainer(registry, particle=ParticleClient("tok", "http://127.0.0.1:9", policy=FAST), peridio=None,
                backoff=OutboxBackoff(base_s=60))
    report = d.drain_once()
    assert report.rescheduled == 3 and report.imported == 0
    assert counts(registry)["particle"] == (3, 0, 0)
    with registry.reading() as s:
        rows = list(s.scalars(select(OutboxRow)))
    assert all(r.tries == 1 and r.claimed_by is None and "network" in (r.last_error or "") for r in rows)
    assert registry.outbox_ready() == 0  # not hammered again until the backoff expires


def test_429_retry_after_longer_than_the_call_budget_reschedules(registry: Registry,
                                                                 fake_particle: FakeParticle) -> None:
    register_devices(registry, device_ids(2), CloudTargets(particle_product="widget-1"))
    fake_particle.fail_next(429, headers={"Retry-After": "3600"})
    report = drainer(registry, fake_particle).drain_once()
    assert report.rescheduled == 2
    with registry.reading() as s:
        delays = [r.next_try_at - r.created_at for r in s.scalars(select(OutboxRow))]
    assert all(d >= timedelta(seconds=3590) for d in delays)


def test_unknown_product_parks_the_batch_visibly(registry: Registry, fake_particle: FakeParticle) -> None:
    register_devices(registry, device_ids(2), CloudTargets(particle_product="missing-product"))
    report = drainer(registry, fake_particle).drain_once()
    assert report.needs_attention == 2
    assert all("404" in e["last_error"] for e in registry.outbox_entries(state="failed"))


def test_missing_credentials_leave_entries_untouched(registry: Registry) -> None:
    register_devices(registry, device_ids(2), CloudTargets(particle_product="widget-1"))
    report = Drainer(registry, particle=None, peridio=None).drain_once()
    assert report.missing_credentials == ["particle"]
    assert "PARTICLE_ACCESS_TOKEN" in report.problems[0]
    assert counts(registry)["particle"] == (2, 0, 0) and registry.outbox_ready() == 2


def test_peridio_create_and_already_exists(registry: Registry, fake_peridio: FakePeridio) -> None:
    ids = register_devices(registry, device_ids(3), PERIDIO)
    fake_peridio.devices[ids[0]] = {"identifier": ids[0]}  # created earlier (e.g. console bulk upload)
    report = drainer(registry, peridio=fake_peridio).drain_once()
    assert report.imported == 3 and counts(registry) == {"peridio": (0, 3, 0)}
    body = fake_peridio.requests[-1][2]
    assert body["product_prn"] == PERIDIO.peridio_product_prn and body["tags"] == ["factory"]
    headers = fake_peridio.requests[-1][3]
    assert headers["Authorization"] == f"Token {fake_peridio.secret}" and headers["x-api-version"]


def test_both_targets_from_one_registration(registry: Registry, fake_particle: FakeParticle,
                                            fake_peridio: FakePeridio) -> None:
    both = CloudTargets(particle_product="widget-1", peridio_product_prn="prn:1:abc:product:widget")
    ids = register_devices(registry, device_ids(2), both)
    drainer(registry, fake_particle, fake_peridio).drain_once()
    assert fake_particle.products["widget-1"] == set(ids) and set(fake_peridio.devices) == set(ids)
    assert counts(registry) == {"particle": (0, 2, 0), "peridio": (0, 2, 0)}


def test_expired_lease_is_taken_over(registry: Registry, fake_particle: FakeParticle) -> None:
    register_devices(registry, device_ids(2), CloudTargets(particle_product="widget-1"))
    claimed = registry.claim_outbox("dead-drainer", limit=10, lease=timedelta(seconds=-1))
    assert len(claimed) == 2  # a drainer that died holding entries (lease already over)
    drainer(registry, fake_particle).drain_once()
    assert counts(registry)["particle"] == (0, 2, 0)
