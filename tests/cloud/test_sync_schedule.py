"""``cloud sync --dry-run`` and ``cloud status`` tell the truth a sync would (issue 15 item 8).

A dry run without a credential failed nothing ("3 ready now", exit 0) while the sync itself then
exited 2; and after a failed pass nothing said when the waiting entries would be tried again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cloud_cli import make_cli
from fake_cloud import FakeParticle
from outbox_helpers import device_ids, register_devices
from sqlalchemy import select, update

from station.domain import rfc3339
from station.store import Registry, open_registry
from station.store.models import OutboxRow
from station.store.records import CloudTargets

PARTICLE_ONLY = CloudTargets(particle_product="widget-1")


pytestmark = pytest.mark.usefixtures("no_keyring")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Registry]]:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)
    yield url, reg
    reg.close()


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_cli(), args, env=env or {}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def next_tries(reg: Registry) -> dict[int, datetime]:
    with reg.reading() as s:
        return {r.id: r.next_try_at for r in s.scalars(select(OutboxRow).where(OutboxRow.state == "pending"))}


def test_dry_run_without_a_credential_fails_as_the_sync_does(db: tuple[str, Registry]) -> None:
    url, reg = db
    register_devices(reg, device_ids(3), PARTICLE_ONLY)
    code, out, err = run(["cloud", "sync", "--db", url, "--dry-run"])
    assert code == 2, out + err
    assert "3 ready now" in out  # the plan is still shown
    assert "no Particle credential: set PARTICLE_ACCESS_TOKEN" in err and "station cloud login particle" in err
    code, out, err = run(["cloud", "sync", "--db", url, "--dry-run", "--json"])
    assert code == 2 and "PARTICLE_ACCESS_TOKEN" in err
    (line,) = json.loads(out)
    assert line["credential_set"] is False and line["ready"] == 3
    # the sync itself: the same exit, and the queue untouched by either
    code, _, err = run(["cloud", "sync", "--db", url])
    assert code == 2 and "PARTICLE_ACCESS_TOKEN" in err
    assert reg.outbox_ready() == 3


def test_dry_run_with_the_credential_exits_0(db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    register_devices(reg, device_ids(2), PARTICLE_ONLY)
    code, out, _ = run(["cloud", "sync", "--db", url, "--dry-run", "--json", "--api-url", fake_particle.url],
                       {"PARTICLE_ACCESS_TOKEN": fake_particle.secret})
    assert code == 0 and fake_particle.requests == []
    (line,) = json.loads(out)
    assert line["credential_set"] is True and line["ready"] == 2 and line["waiting"] == 0


def test_after_a_failed_pass_dry_run_and_status_say_when_each_entry_is_next_tried(
        db: tuple[str, Registry], fake_particle: FakeParticle) -> None:
    url, reg = db
    register_devices(reg, device_ids(3), PARTICLE_ONLY)
    env = {"PARTICLE_ACCESS_TOKEN": fake_particle.secret, "PARTICLE_API_URL": fake_particle.url}
    fake_particle.fail_next(503, headers={"Retry-After": "600"})
    code, _, err = run(["cloud", "sync", "--db", url], env)
    first = min(next_tries(reg).values())
    assert code == 1 and f"the first is next tried at {rfc3339(first)} (in " in err
    assert "`station cloud status`" in err
    # a later pass of another batch: two distinct times, each named with its entries
    with reg.session() as s:
        s.execute(update(OutboxRow).where(OutboxRow.id == 3).values(
            next_try_at=datetime(2099, 1, 1, 12, 0, 0)))
    times = next_tries(reg)
    assert len(set(times.values())) == 2
    soon = times[1]
    assert times[2] == soon

    code, out, err = run(["cloud", "sync", "--db", url, "--dry-run"], env)
    assert code == 0, err
    assert "3 pending entries, 0 ready now, 3 waiting" in out
    assert f"next tried {rfc3339(soon)} (in 9 min" in out or f"next tried {rfc3339(soon)} (in 10 min" in out
    assert "2 entries (id 1, 2)" in out
    assert "next tried 2099-01-01T12:00:00Z" in out and "1 entry (id 3)" in out
    assert out.index(rfc3339(soon)) < out.index("2099-01-01")  # earliest first

    code, out, _ = run(["cloud", "sync", "--db", url, "--dry-run", "--json"], env)
    (line,) = json.loads(out)
    assert line["waiting"] == 3 and line["ready"] == 0
    assert [(g["at"], g["entries"], g["ids"]) for g in line["next_tries"]] == [
        (rfc3339(soon), 2, [1, 2]), ("2099-01-01T12:00:00Z", 1, [3])]
    assert 590 <= line["next_tries"][0]["in_s"] <= 600

    code, out, _ = run(["cloud", "status", "--db", url], env)
    assert code == 0
    assert "waiting     3" in out and f"next tried {rfc3339(soon)}" in out and "(id 3)" in out
    code, out, _ = run(["cloud", "status", "--db", url, "--json"], env)
    (row,) = json.loads(out)
    assert row["pending"] == 3 and row["waiting"] == 3 and row["next_try_at"] == rfc3339(soon)
    assert [g["ids"] for g in row["next_tries"]] == [[1, 2], [3]]
    assert all(g["stage"] == "import" for g in row["next_tries"])


def test_waiting_entries_without_a_credential_are_not_an_error_yet(db: tuple[str, Registry]) -> None:
    """The sync exits 0 when nothing is ready, credential or not; the dry run agrees and shows the times."""
    url, reg = db
    register_devices(reg, device_ids(1), PARTICLE_ONLY)
    with reg.session() as s:
        s.execute(update(OutboxRow).values(next_try_at=datetime(2099, 1, 1)))
    assert run(["cloud", "sync", "--db", url])[0] == 0
    code, out, _ = run(["cloud", "sync", "--db", url, "--dry-run"])
    assert code == 0 and "next tried 2099-01-01T00:00:00Z" in out


def test_a_long_schedule_stays_a_few_lines(db: tuple[str, Registry]) -> None:
    url, reg = db
    register_devices(reg, device_ids(30), PARTICLE_ONLY)
    with reg.session() as s:
        for i in range(1, 31):  # thirty passes' worth of distinct times
            s.execute(update(OutboxRow).where(OutboxRow.id == i).values(
                next_try_at=datetime(2099, 1, 1) + timedelta(minutes=i)))
    code, out, _ = run(["cloud", "status", "--db", url])
    assert code == 0
    assert out.count("next tried") == 10
    assert "and at 20 later times, the last 2099-01-01T00:30:00Z" in out
