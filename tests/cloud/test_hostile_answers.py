"""Issue 10, item 8: cloud answers that used to break the drain.

A Retry-After of 10¹⁷ seconds raised OverflowError; an HTTP date in the year 9999 parked every
entry until then; an answer whose fields had the wrong types raised TypeError; after a failed
Peridio request every pending entry's reason named the first device. Each server-supplied delay is
now capped, the answer's shape validated, and each entry keeps its own reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fake_cloud import FakeParticle, FakePeridio
from outbox_helpers import device_ids, register_devices
from test_sync import PERIDIO, drainer

from station.cloud.http import MAX_SERVER_DELAY_S, parse_retry_after
from station.store import Registry
from station.store.records import CloudTargets

HUGE = ["99999999999999999", "1" + "0" * 400, "Fri, 31 Dec 9999 23:59:59 GMT", "Sat, 01 Jan 10000 00:00:00 GMT"]


@pytest.mark.parametrize("value", HUGE)
def test_a_server_delay_is_capped(value: str) -> None:
    got = parse_retry_after(value)
    assert got is None or 0 <= got <= MAX_SERVER_DELAY_S


@pytest.mark.parametrize("value", ["-5", "soon", "١٢", "Mon, 99 Foo 2026 99:99:99 GMT", "  "])
def test_a_malformed_delay_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def _waits(reg: Registry) -> list[float]:
    now = datetime.now(UTC).replace(tzinfo=None)
    return [(datetime.fromisoformat(e["next_try_at"].replace("Z", "+00:00")).replace(tzinfo=None) - now)
            .total_seconds() for e in reg.outbox_entries() if e["next_try_at"]]


@pytest.mark.parametrize("value", HUGE[:1] + HUGE[2:3])
def test_a_huge_retry_after_reschedules_within_the_cap(registry: Registry, fake_particle: FakeParticle,
                                                       value: str) -> None:
    register_devices(registry, device_ids(3), CloudTargets(particle_product="widget-1"))
    fake_particle.fail_next(429, headers={"Retry-After": value}, times=4)
    report = drainer(registry, fake_particle).drain_once()  # used to raise OverflowError
    assert report.rescheduled == 3
    waits = _waits(registry)
    assert len(waits) == 3 and all(0 < w <= MAX_SERVER_DELAY_S + 5 for w in waits), waits


@pytest.mark.parametrize("body", [
    {"updatedDeviceIds": "e00fce680000000000000000"},  # a string, not an array (iterated as characters)
    {"updatedDeviceIds": [1, 2, 3]},
    {"existingDeviceIds": {"a": 1}},
    {"invalidDeviceIds": 7},
    ["not", "an", "object"],
])
def test_an_answer_of_the_wrong_shape_keeps_the_batch_queued(registry: Registry, fake_particle: FakeParticle,
                                                             body: object) -> None:
    register_devices(registry, device_ids(2), CloudTargets(particle_product="widget-1"))
    fake_particle.fail_next(200, body=body)
    report = drainer(registry, fake_particle).drain_once()  # used to raise TypeError / mis-settle
    assert report.imported == 0 and report.rescheduled == 2
    for e in registry.outbox_entries():
        reason = e["last_error"] or ""
        assert e["state"] == "pending" and ("wrong shape" in reason or "not a JSON object" in reason), e


def test_each_waiting_entry_keeps_its_own_reason(registry: Registry, fake_peridio: FakePeridio) -> None:
    ids = register_devices(registry, device_ids(3), PERIDIO)
    fake_peridio.fail_next(503, body={"error": "maintenance"}, times=4)
    report = drainer(registry, peridio=fake_peridio).drain_once()
    assert report.rescheduled >= 1 and report.imported == 0
    entries = registry.outbox_entries()
    assert all(e["state"] == "pending" for e in entries)
    reasons = {e["device_id"]: e["last_error"] for e in entries}
    sent = [d for d in ids if d in (reasons[d] or "")]
    assert len(sent) == 1, reasons  # only the entry that was sent names a device: its own
    for d in ids:
        others = [o for o in ids if o != d]
        assert not any(o in (reasons[d] or "") for o in others), reasons
        if d not in sent:
            assert reasons[d] is None or "not sent" in reasons[d]
