"""Station liveness in the registry (issue 10 items 5, 6) and one live attempt per device (item 7).

Another PC is stood in by a second ``Registry`` on the same database whose ``host_identity`` says
another host and boot; another process on this PC by a real child process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from station.domain import FAULT_STATION_STOPPED
from station.errors import DeviceBusy
from station.store import Registry, open_registry, spool
from station.store.leases import ABANDONED_REASON, HostIdentity, StationNameInUse, this_host
from station.store.models import Attempt, StationLease

DID = "e00fce68aabbccddeeff0011"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def regs(url: str) -> Iterator[list[Registry]]:
    opened: list[Registry] = []
    yield opened
    for r in opened:
        r.close()


def other_pc(url: str, regs: list[Registry], host: str = "pc-b") -> Registry:
    reg = open_registry(url)
    reg.host_identity = HostIdentity(host=host, boot_id=f"boot-of-{host}", pid=4242)
    regs.append(reg)
    return reg


def this_pc(url: str, regs: list[Registry]) -> Registry:
    reg = open_registry(url)
    regs.append(reg)
    return reg


def lot_of(reg: Registry) -> tuple[int, int]:
    pid = reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    return reg.ensure_lot("L1", product_id=pid), prof


def start(reg: Registry, station: str, did: str = DID, transport: str = "swd", slot: str = "1") -> int:
    lot, prof = lot_of(reg)
    return reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station=station,
                             slot=slot, operator="o", transport=transport, overrides=[])


def outcome(reg: Registry, attempt_id: int) -> tuple[str, str | None]:
    with reg.reading() as s:
        a = s.get(Attempt, attempt_id)
        assert a is not None
        return a.outcome, a.reason


def test_a_second_pc_with_the_same_station_name_is_refused_naming_the_first(url: str, regs: list[Registry]) -> None:
    first = this_pc(url, regs)
    first.hold_station("line-1")
    live = start(first, "line-1")
    clone = other_pc(url, regs)
    with pytest.raises(StationNameInUse, match=rf"in use .* by host {this_host().host} \(pid {os.getpid()}"):
        clone.hold_station("line-1")
    assert outcome(first, live) == ("running", None)  # the clone closed nothing
    clone.hold_station("line-2")  # its own name is fine


def test_only_attempts_whose_owner_lease_expired_are_closed(url: str, regs: list[Registry]) -> None:
    pc_a = other_pc(url, regs, host="pc-a")
    lease = pc_a.hold_station("line-1", ttl=timedelta(seconds=1))
    abandoned = start(pc_a, "line-1")
    lease._stop.set()  # pc-a freezes: no more heartbeats (its process is gone)
    pc_b = other_pc(url, regs, host="pc-b")
    with pytest.raises(StationNameInUse):
        pc_b.hold_station("line-1")  # still live: nothing closed
    assert outcome(pc_a, abandoned) == ("running", None)
    deadline = time.monotonic() + 30
    while True:
        try:
            pc_b.hold_station("line-1")
            break
        except StationNameInUse:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert outcome(pc_b, abandoned) == ("failed", ABANDONED_REASON)
    with pc_b.reading() as s:
        ended = s.get(StationLease, lease.id)
        assert ended is not None and ended.ended_by is not None and "pc-b" in ended.ended_by


def test_a_second_process_of_a_station_on_this_pc_keeps_the_first_ones_attempts(url: str,
                                                                                 regs: list[Registry]) -> None:
    first = this_pc(url, regs)
    first.hold_station("line-1")
    live = start(first, "line-1")
    second = this_pc(url, regs)
    second.host_identity = HostIdentity(this_host().host, this_host().boot_id, os.getppid())  # a live pid
    second.hold_station("line-1")
    assert second.close_abandoned_attempts("line-1") == 0
    assert outcome(second, live) == ("running", None)


WORKER = textwrap.dedent("""
    import sys, time
    from station.store import open_registry
    reg = open_registry(sys.argv[1])
    reg.hold_station(sys.argv[2])
    pid = reg.ensure_product(name="w", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = reg.ensure_lot("L1", product_id=pid)
    if sys.argv[3] != "-":
        a = reg.start_attempt(device_id=sys.argv[3], platform="boron", lot_id=lot, profile_id=prof,
                              station=sys.argv[2], slot="1", operator="o", transport="usb", overrides=[])
        print(a, flush=True)
    else:
        print(0, flush=True)
    time.sleep(600)
""")


def spawn(url: str, station: str, did: str = "-") -> tuple[subprocess.Popen[str], int]:
    p = subprocess.Popen([sys.executable, "-c", WORKER, url, station, did], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.strip().isdigit(), "worker did not start"
    return p, int(line)


def test_kill_9_on_this_pc_frees_the_attempts_at_once(url: str, regs: list[Registry]) -> None:
    proc, attempt = spawn(url, "line-1", DID)
    try:
        me = this_pc(url, regs)
        me.hold_station("line-1")
        assert outcome(me, attempt) == ("running", None)  # its process is alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # no waiting for the 30 s TTL: same boot of this PC, and its pid is gone
        assert me.close_abandoned_attempts("line-1") == 1
        assert outcome(me, attempt) == ("failed", ABANDONED_REASON)
    finally:
        proc.kill()
        proc.wait()


def test_liveness_is_per_registry(tmp_path: object, url: str, regs: list[Registry]) -> None:
    """Issue 10 item 6: a live 'demo-station' on another registry does not keep this one's
    abandoned attempts open (the old lock file was keyed by the name alone)."""
    other_registry = f"sqlite:///{tmp_path}/other.db"
    alive, _ = spawn(other_registry, "demo-station")
    killed, attempt = spawn(url, "demo-station", DID)
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        me = this_pc(url, regs)
        me.hold_station("demo-station")
        assert outcome(me, attempt) == ("failed", ABANDONED_REASON)
    finally:
        for p in (alive, killed):
            p.kill()
            p.wait()


def test_a_device_has_one_live_attempt_whatever_the_process_or_transport(url: str, regs: list[Registry]) -> None:
    """Issue 10 item 7: a USB process holds the device; an SWD slot of another station (or PC) is
    refused with who holds it, and can start once that attempt ended."""
    usb, usb_attempt = spawn(url, "usb-bench", DID)
    try:
        swd = other_pc(url, regs)
        swd.hold_station("swd-line")
        with pytest.raises(DeviceBusy, match=r"already being provisioned by station usb-bench slot 1 on host .* "
                                             rf"\(attempt {usb_attempt} over usb"):
            start(swd, "swd-line", transport="swd")
        with swd.reading() as s:
            running = s.scalars(select(Attempt.id).where(Attempt.device_id == DID,
                                                         Attempt.outcome == "running")).all()
        assert running == [usb_attempt]
    finally:
        usb.kill()
        usb.wait()
    # Its process died: the SWD station waits for its lease to expire (other PC: no pid check)...
    me = this_pc(url, regs)  # ...while a station on the USB bench's own PC sees it at once
    again = start(me, "usb-bench")
    assert outcome(me, usb_attempt) == ("failed", ABANDONED_REASON) and outcome(me, again) == ("running", None)


def test_two_slots_of_one_process_cannot_both_hold_a_device(url: str, regs: list[Registry]) -> None:
    reg = this_pc(url, regs)
    reg.hold_station("line-1")
    first = start(reg, "line-1", slot="1")
    with pytest.raises(DeviceBusy, match="slot 1"):
        start(reg, "line-1", slot="2")
    reg.finish_attempt(first, outcome="failed", failing_step="x", reason="y")
    start(reg, "line-1", slot="2")


def test_closes_owed_in_a_file_from_before_faults_were_kept_are_written_with_their_reason(
        url: str, regs: list[Registry]) -> None:
    """An owed-closes file written by an older station holds reasons only: the next start writes
    each as failed with that reason and no fault (whether the unit or the station ended it is not
    known), and the rest of a dead station's attempts as abandoned (station-stopped)."""
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a station process of this PC that has stopped
    dead = this_pc(url, regs)
    dead.host_identity = HostIdentity(this_host().host, this_host().boot_id, gone.pid)
    dead.hold_station("line-1")
    owed, abandoned = start(dead, "line-1"), start(dead, "line-1", did="e00fce68aabbccddeeff0022")
    file = spool._path(dead.engine.url.render_as_string(hide_password=True))
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({str(owed): "registry unavailable: old station"}))
    this_pc(url, regs).hold_station("line-1")
    with dead.reading() as s:
        rows = {a.id: (a.outcome, a.reason, a.fault)
                for a in s.scalars(select(Attempt).where(Attempt.id.in_([owed, abandoned])))}
    assert rows == {owed: ("failed", "registry unavailable: old station", None),
                    abandoned: ("failed", ABANDONED_REASON, FAULT_STATION_STOPPED)}
    assert not file.exists()  # written, so no longer owed
