"""``station cloud`` end to end against the fake APIs: exit codes, JSON, and no credential leaks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cloud_cli import make_cli
from fake_cloud import FakeParticle, FakePeridio
from outbox_helpers import device_ids, register_devices
from sqlalchemy import select, update

from station.store import Registry, open_registry
from station.store.models import Base, OutboxRow
from station.store.records import CloudTargets

BOTH = CloudTargets(particle_product="widget-1", particle_groups=["line-a"],
                    peridio_product_prn="prn:1:org:product:widget")


pytestmark = pytest.mark.usefixtures("no_keyring")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Registry]]:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)
    yield url, reg
    reg.close()


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(make_cli(), args, env=env or {}, catch_exceptions=False)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def all_db_text(reg: Registry) -> str:
    with reg.reading() as s:
        return "\n".join(repr(row) for table in Base.metadata.sorted_tables for row in s.execute(select(table)))


def test_sync_status_and_no_token_anywhere(db: tuple[str, Registry], fake_particle: FakeParticle,
                                           fake_peridio: FakePeridio) -> None:
    url, reg = db
    ids = register_devices(reg, device_ids(6), BOTH)
    fake_particle.nonmember.add(ids[0])
    # a server that echoes the credential back in an error must not get it into our records or output
    fake_peridio.fail_next(400, body={"error": f"malformed request with Token {fake_peridio.secret}"})
    env = {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "PERIDIO_API_KEY": fake_peridio.secret}
    code, out = run(["cloud", "sync", "--db", url, "--api-url", fake_particle.url, "--peridio-url",
                     fake_peridio.url, "--json"], env)
    assert code == 1  # two entries need attention
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["imported"] == 10 and summary["needs_attention"] == 2
    code, out2 = run(["cloud", "status", "--db", url, "--json"])
    assert code == 0
    none_waiting = {"waiting": 0, "next_try_at": None, "next_tries": []}
    assert json.loads(out2) == [{"target": "particle", "pending": 0, "imported": 5, "failed": 1} | none_waiting,
                                {"target": "peridio", "pending": 0, "imported": 5, "failed": 1} | none_waiting]
    code, out3 = run(["cloud", "list", "--db", url, "--state", "failed", "--json"])
    reasons = {r["target"]: r["last_error"] for r in json.loads(out3)}
    assert "non-member" in reasons["particle"] and "***" in reasons["peridio"]
    for text in (out, out2, out3, all_db_text(reg)):
        assert fake_particle.secret not in text and fake_peridio.secret not in text


def test_retry_all_failed_then_sync_again(db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    ids = register_devices(reg, device_ids(2), CloudTargets(particle_product="widget-1"))
    fake_particle.protected.add(ids[1])
    env = {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "STATION_PARTICLE_API": fake_particle.url}
    assert run(["cloud", "sync", "--db", url], env)[0] == 1
    fake_particle.protected.clear()
    code, out = run(["cloud", "retry", "--db", url, "--all-failed"])
    assert (code, out.strip()) == (0, "1 entries queued again")
    code, out = run(["cloud", "sync", "--db", url], env)
    assert code == 0 and "1 imported" in out


def test_missing_credentials_exit_2_and_keep_the_queue(db: tuple[str, Registry]) -> None:
    url, reg = db
    register_devices(reg, device_ids(2), CloudTargets(particle_product="widget-1"))
    code, out = run(["cloud", "sync", "--db", url])
    assert code == 2 and "PARTICLE_ACCESS_TOKEN" in out and "Traceback" not in out
    assert reg.outbox_ready() == 2


def test_rejected_token_exits_2_without_the_token(db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    register_devices(reg, device_ids(2), CloudTargets(particle_product="widget-1"))
    wrong = "wrong-token-should-never-be-printed"
    code, out = run(["cloud", "sync", "--db", url, "--api-url", fake_particle.url],
                    {"PARTICLE_ACCESS_TOKEN": wrong})
    assert code == 2 and "credential refused (HTTP 401" in out and wrong not in out
    assert reg.outbox_ready() == 2  # untouched: fixing the token is all it takes
    assert wrong not in all_db_text(reg)


def test_dry_run_sends_nothing(db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    register_devices(reg, device_ids(3), BOTH)
    code, out = run(["cloud", "sync", "--db", url, "--dry-run", "--json", "--api-url", fake_particle.url],
                    {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "PERIDIO_API_KEY": "peridio-key-123456"})
    assert code == 0 and fake_particle.requests == []
    ready_now = {"waiting": 0, "next_tries": [], "credential_set": True}
    assert json.loads(out) == [{"target": "particle", "stage": "import", "entries": 3, "ready": 3} | ready_now,
                               {"target": "peridio", "stage": "create", "entries": 3, "ready": 3} | ready_now]


def test_watch_is_bounded(db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    register_devices(reg, device_ids(2), CloudTargets(particle_product="widget-1"))
    code, out = run(["cloud", "sync", "--db", url, "--api-url", fake_particle.url, "--watch", "--interval", "0.1",
                     "--max-time", "0.5"], {"PARTICLE_ACCESS_TOKEN": fake_particle.secret})
    assert code == 0 and "2 imported" in out
    assert fake_particle.products["widget-1"] == set(device_ids(2))


@pytest.mark.parametrize("option", ["--api-url", "--peridio-url"])
def test_malformed_base_url_exits_2_at_once_even_with_watch(db: tuple[str, Registry], option: str) -> None:
    """A typo in a URL is configuration, not 'network down': no retry loop, one clear line."""
    url, reg = db
    register_devices(reg, device_ids(2), BOTH)
    env = {"PARTICLE_ACCESS_TOKEN": "particle-token-123456", "PERIDIO_API_KEY": "peridio-key-123456"}
    t0 = time.monotonic()
    code, out = run(["cloud", "sync", "--db", url, option, "not a url", "--watch", "--interval", "0.1",
                     "--max-time", "20"], env)
    assert time.monotonic() - t0 < 5
    (line,) = set(out.splitlines())  # one line (the runner may show stderr twice)
    assert code == 2 and line.startswith(f"error: {option}")
    assert "'not a url' is not an http:// or https:// URL" in out
    assert reg.outbox_ready() == 4  # untouched, no backoff recorded
    code, out = run(["cloud", "sync", "--db", url], env | {"STATION_PARTICLE_API": "ftp://api.particle.io"})
    assert code == 2 and "STATION_PARTICLE_API" in out


def test_cloud_unreachable_exit_codes_and_wording(db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    """One-shot: unsent ready entries are a failure (exit 1, 'error:'); --watch retries by itself, so
    entries still queued at its end are a note and exit 0."""
    url, reg = db
    register_devices(reg, device_ids(2), CloudTargets(particle_product="widget-1"))
    env = {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "STATION_PARTICLE_API": fake_particle.url}
    # a long Retry-After ends the call at once (the outbox waits instead of the request)
    fake_particle.fail_next(503, headers={"Retry-After": "600"})
    code, out = run(["cloud", "sync", "--db", url], env)
    assert code == 1 and "error: the cloud could not be reached: 2 entries stay queued" in out
    with reg.session() as s:  # make them ready again for the watch below
        s.execute(update(OutboxRow).values(next_try_at=datetime(2000, 1, 1)))
    fake_particle.fail_next(503, headers={"Retry-After": "600"})
    code, out = run(["cloud", "sync", "--db", url, "--watch", "--interval", "0.1", "--max-time", "0.3"], env)
    assert code == 0 and "error:" not in out
    assert "note: 2 entries stay queued for the next sync" in out


def test_watch_without_credentials_stops_at_once_with_exit_2(db: tuple[str, Registry]) -> None:
    url, reg = db
    register_devices(reg, device_ids(1), CloudTargets(particle_product="widget-1"))
    t0 = time.monotonic()
    code, out = run(["cloud", "sync", "--db", url, "--watch", "--interval", "0.1", "--max-time", "20"])
    assert code == 2 and "PARTICLE_ACCESS_TOKEN" in out and time.monotonic() - t0 < 5


def _parked_by_a_year_9999_delay(url: str, reg: Registry, fake_particle: FakeParticle, n: int) -> list[str]:
    ids = register_devices(reg, device_ids(n), CloudTargets(particle_product="widget-1"))
    fake_particle.fail_next(429, headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"})
    env = {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "STATION_PARTICLE_API": fake_particle.url}
    run(["cloud", "sync", "--db", url], env)
    assert not fake_particle.script  # the hostile answer was served; the server is healthy from now on
    assert reg.outbox_ready() == 0  # all waiting (capped, but still for up to an hour)
    code, out = run(["cloud", "sync", "--db", url], env)
    assert code == 0 and "0 imported" in out and not fake_particle.products.get("widget-1")
    return ids


def test_retry_all_waiting_brings_back_entries_a_hostile_server_parked(
        db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    """Issue 10 item 8: a year-9999 Retry-After held entries back and `cloud retry` could not requeue them."""
    url, reg = db
    ids = _parked_by_a_year_9999_delay(url, reg, fake_particle, 3)
    code, out = run(["cloud", "retry", "--db", url, "--all-waiting", "--json"])
    assert code == 0 and json.loads(out) == {"requeued": 3, "failed": 0, "waiting": 3, "in_flight": 0}
    env = {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "STATION_PARTICLE_API": fake_particle.url}
    code, out = run(["cloud", "sync", "--db", url], env)
    assert code == 0 and "3 imported" in out
    assert fake_particle.products["widget-1"] == set(ids)
    assert {e["state"] for e in reg.outbox_entries()} == {"imported"}


def test_retry_by_id_takes_a_waiting_entry_and_leaves_a_running_syncs_entries_alone(
        db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    _parked_by_a_year_9999_delay(url, reg, fake_particle, 2)
    first, second = (e["id"] for e in reg.outbox_entries())
    code, out = run(["cloud", "retry", "--db", url, "--id", str(first)])
    assert (code, out.strip()) == (0, "1 entries queued again (0 failed, 1 waiting)")
    assert reg.outbox_ready() == 1
    # a drainer that claimed the ready entry holds it under its lease: another retry must not
    # hand it out again while that drainer may be sending it
    claimed = reg.claim_outbox("other-drainer", limit=10)
    assert [c.id for c in claimed] == [first]
    code, out = run(["cloud", "retry", "--db", url, "--id", str(first), "--id", str(second)])
    assert code == 2 and "1 are being sent by a running sync" in out
    assert reg.outbox_ready() == 1  # the second, not the claimed first
    code, out = run(["cloud", "retry", "--db", url])
    assert code == 2 and "--all-waiting" in out


def test_retry_of_an_unknown_id_says_so(db: tuple[str, Registry]) -> None:
    url, _ = db
    code, out = run(["cloud", "retry", "--db", url, "--id", "4242"])
    assert code == 2 and "no failed or waiting outbox entry with id 4242" in out and "Traceback" not in out
