"""Issue 10 item 9: a registry outage mid-run is a station ERROR in its own words, against a real
PostgreSQL that stops accepting connections (and drops the ones it has) while devices are in
flight. Devices are left safe, nothing is written half, and once the registry is back the open
attempts are closed as "registry unavailable" — by the same process, or by the next start on this
PC when the process had to exit first."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from station.firmware.cache import FirmwareCache
from station.pipeline.events import Event
from station.sim.bench import Bench
from station.store import open_registry
from station.store.models import Attempt, Label, OutboxRow

from .conftest import HALTED_STATES, Line, never_connected

PG_URL = os.environ.get("STATION_TEST_DATABASE_URL")


@dataclass
class Database:
    url: str
    name: str
    admin: psycopg.Connection  # type: ignore[type-arg]

    def down(self) -> None:
        """Refuse new connections and end the open ones (what a dropped or restarted server does)."""
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [self.name])

    def up(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    if not PG_URL:
        pytest.skip("STATION_TEST_DATABASE_URL is not set")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # this PC's owed-closes file
    base = make_url(PG_URL)
    name = f"outage_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False),
                            autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(base.set(database=name).render_as_string(hide_password=False), name, admin)
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_the_registry_going_away_mid_run_stops_the_station_with_an_error(
        database: Database, bench: Bench, cache: FirmwareCache, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    registry = open_registry(database.url)
    line = Line(bench, cache, registry, tmp_path)
    twins = bench.create(2, seed=91)
    gone = threading.Event()

    def pull_the_plug(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == "functional-tests" and not gone.is_set():
            gone.set()
            database.down()

    line.hooks.append(pull_the_plug)
    caplog.set_level(logging.INFO)
    # slot_workers pinned to thread: the database goes down from an event handler at functional-tests'
    # start, and only slots in threads wait for it there; in workers the slots go on and may register first.
    results = line.swd(twins, slot_workers="thread")

    assert gone.is_set()
    for r in results:
        assert r.outcome == "error", (r.outcome, r.failing_step, r.reason)
        assert (r.reason or "").startswith("registry unavailable: the station stopped")
        assert "internal error" not in (r.reason or "")
    for t in twins:  # left safe: halted by the station, never online
        assert t.state.run_state in HALTED_STATES
        never_connected(t)
    assert not [rec for rec in caplog.records if rec.exc_info or "bug while provisioning" in rec.getMessage()]

    database.up()
    registry.lots()  # any answer from the registry: the owed closes are written at once
    with registry.reading() as s:
        attempts = s.execute(select(Attempt.outcome, Attempt.reason)).all()
        faults = s.scalars(select(Attempt.fault)).all()
        outbox = s.scalar(select(func.count()).select_from(OutboxRow))
        labels = s.scalar(select(func.count()).select_from(Label))
    assert len(attempts) == 2
    assert all(o == "failed" and (reason or "").startswith("registry unavailable") for o, reason in attempts)
    assert faults == ["registry-unavailable"] * 2  # the replayed close keeps its fault (issue 12)
    assert (outbox, labels) == (0, 0)  # nothing registered half
    assert registry.outage is None
    registry.close()


WORKER = textwrap.dedent("""
    import sys
    from station.store import open_registry
    reg = open_registry(sys.argv[1])
    reg.hold_station("line-1")
    pid = reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = reg.ensure_lot("L1", product_id=pid)
    a, b = (reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="line-1",
                              slot="1", operator="o", transport="swd", overrides=[])
            for did in ("e00fce68aabbccddeeff0011", "e00fce68aabbccddeeff0022"))
    print(a, b, flush=True)
    sys.stdin.readline()  # the test takes the registry away here
    # as run.close writes them: one the outage ended (a station ERROR), one its test had judged
    for aid, step, reason, fault in ((a, "flash", "registry unavailable: test", "registry-unavailable"),
                                     (b, "battery", "VBAT 2.9 V below 3.1 V", None)):
        try:
            reg.finish_attempt(aid, outcome="failed", failing_step=step, reason=reason, fault=fault)
        except Exception as exc:
            print(type(exc).__name__, flush=True)
    reg.close()
""")


def test_closes_owed_by_a_process_that_exited_are_written_by_the_next_start(database: Database) -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER, database.url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert worker.stdin is not None and worker.stdout is not None
    outage, judged = map(int, worker.stdout.readline().split())
    database.down()
    worker.stdin.write("\n")
    worker.stdin.flush()
    assert [worker.stdout.readline().strip() for _ in range(2)] == ["RegistryUnavailable"] * 2
    assert worker.wait(timeout=60) == 0, worker.stderr.read() if worker.stderr else ""
    database.up()
    reg = open_registry(database.url)
    reg.hold_station("line-1")  # same PC, its pid is gone: the owed closes are written as they were meant
    with reg.reading() as s:
        rows = {a.id: (a.outcome, a.failing_step, a.reason, a.fault)
                for a in s.scalars(select(Attempt).where(Attempt.id.in_([outage, judged])))}
    assert rows == {outage: ("failed", "flash", "registry unavailable: test", "registry-unavailable"),
                    judged: ("failed", "battery", "VBAT 2.9 V below 3.1 V", None)}
    view = reg.lot_overview("L1")  # the slot said ERROR for the first: a station error, not a failed unit
    assert (view.devices, view.failed, view.errors, view.failures_by_step) == (2, 1, 1, [("battery", 1)])
    reg.close()
