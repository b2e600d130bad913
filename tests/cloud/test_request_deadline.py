"""Issue 10, item 8: a server that trickles its answer cannot hold a drain past the request deadline.

Read timeouts apply per read, so an answer sent a byte every few tenths of a second never times out
by them; the overall deadline ends the request, the entries stay queued, and the drain goes on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from outbox_helpers import device_ids, register_devices

from station.cloud.http import RetryPolicy
from station.cloud.particle import ParticleClient
from station.cloud.sync import Drainer
from station.errors import CloudUnavailable
from station.store import Registry
from station.store.records import CloudTargets


@pytest.fixture
def trickler() -> Iterator[str]:
    """An HTTP server that answers 200 with a long body, one byte every 0.2 s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if stop.is_set():
                    return
                try:
                    conn.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.2)

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    srv.close()


POLICY = RetryPolicy(attempts=2, base_s=0.01, cap_s=0.02, timeout_s=(1.0, 1.0), deadline_s=1.5)


def test_a_trickling_answer_ends_at_the_deadline(trickler: str) -> None:
    client = ParticleClient("t" * 40, trickler, policy=POLICY)
    started = time.monotonic()
    with pytest.raises(CloudUnavailable, match="did not arrive within"):
        client.import_devices("widget-1", device_ids(1), import_sims=False)
    # two attempts, each ended by the deadline (plus at most one read timeout), not by the 200 s body
    assert time.monotonic() - started < 2 * (POLICY.deadline_s + POLICY.timeout_s[1]) + 1


def test_the_drain_keeps_the_entries_queued_and_returns(registry: Registry, trickler: str) -> None:
    register_devices(registry, device_ids(2), CloudTargets(particle_product="widget-1"))
    d = Drainer(registry, particle=ParticleClient("t" * 40, trickler, policy=POLICY), peridio=None)
    report = d.drain_once()
    assert report.rescheduled == 2 and report.imported == 0
    assert all(e["state"] == "pending" for e in registry.outbox_entries())


def test_the_longest_call_is_known_for_the_lease() -> None:
    p = RetryPolicy()
    assert p.longest_call_s() >= p.attempts * p.deadline_s


def test_every_claim_is_leased_longer_than_the_requests_made_under_it(registry: Registry) -> None:
    from fake_cloud import FakePeridio

    from station.cloud.peridio import PeridioClient

    register_devices(registry, device_ids(3), CloudTargets(peridio_product_prn="prn:1:a:product:w"))
    claims: list[tuple[int, float]] = []
    real = registry.claim_outbox

    def spy(worker: str, **kw):  # type: ignore[no-untyped-def]
        claims.append((kw["limit"], kw["lease"].total_seconds()))
        return real(worker, **kw)

    registry.claim_outbox = spy  # type: ignore[method-assign]
    with FakePeridio() as fake:
        policy = RetryPolicy()
        d = Drainer(registry, particle=None, peridio=PeridioClient(fake.secret, fake.url, policy=policy))
        assert d.drain_once().imported == 3
    longest = policy.longest_call_s()
    assert claims and all(limit * longest < lease for limit, lease in claims), (claims, longest)
