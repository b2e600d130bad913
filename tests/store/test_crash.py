"""kill -9 of a registering station loses nothing and duplicates nothing after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from station.store import open_registry
from station.store.models import Attempt, Device, OutboxRow

N = 120

WORKER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from station.store import open_registry
    from station.store.records import CloudTargets, MeasurementRecord

    reg = open_registry(sys.argv[1])
    closed = reg.close_abandoned_attempts("st1")
    print("closed", closed, flush=True)
    cloud = CloudTargets(particle_product="widget-1", particle_groups=["g"], peridio_product_prn="prn:1:x:product:w")
    pid = reg.ensure_product(name="widget", platform="boron", particle_product="widget-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="34" * 32, content="x")
    lot = reg.ensure_lot("CRASH", product_id=pid)
    for i in range(int(sys.argv[2])):
        did = f"e00fce68{i:016x}"
        if reg.device_status(did).registered_product_id == pid:
            continue  # resumed run: this one is done
        a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="st1",
                              slot="1", operator="op", transport="swd", overrides=[])
        for step in ("identify", "flash", "test"):
            reg.record_step(a, name=step, started_at=datetime.now(UTC), duration_s=0.01, outcome="passed")
        reg.record_measurement(a, MeasurementRecord(step="test", name="vbat", passed=True, value=3.7, unit="V"))
        reg.register_passed(a, product_id=pid, lot_id=lot, cloud=cloud)
        print("done", i, flush=True)
""")


def _check_integrity(url: str) -> tuple[int, int]:
    reg = open_registry(url)
    with reg.reading() as s:
        bound = s.execute(select(Device.device_id, Device.registered_attempt_id)
                          .where(Device.product_id.is_not(None))).all()
        for did, aid in bound:  # every bound device has both outbox entries of its registering attempt
            targets = s.scalars(select(OutboxRow.target).where(OutboxRow.attempt_id == aid)).all()
            assert sorted(targets) == ["particle", "peridio"], did
            att = s.get(Attempt, aid)
            assert att is not None and att.outcome == "passed"
        for row in s.scalars(select(OutboxRow)):  # and every outbox entry belongs to a registration
            dev = s.get(Device, row.device_id)
            assert dev is not None and dev.product_id is not None
            att = s.get(Attempt, row.attempt_id)
            assert att is not None and att.outcome == "passed"
        running = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.outcome == "running")) or 0
    reg.close()
    return len(bound), running


@pytest.mark.slow
def test_kill_9_mid_lot_then_resume(sqlite_url: str) -> None:
    open_registry(sqlite_url).close()  # migrate first so the kill lands in registration work
    proc = subprocess.Popen([sys.executable, "-c", WORKER, sqlite_url, str(N)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    done = 0
    for line in proc.stdout:
        if line.startswith("done"):
            done += 1
            if done == 37:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    bound, running = _check_integrity(sqlite_url)
    assert bound >= 37  # nothing acknowledged was lost
    assert running <= 1  # at most the attempt in flight when the kill landed

    rerun = subprocess.run([sys.executable, "-c", WORKER, sqlite_url, str(N)], capture_output=True, text=True,
                           timeout=120, check=True)
    assert rerun.stdout.splitlines()[0] == f"closed {running}"
    bound, running = _check_integrity(sqlite_url)
    assert (bound, running) == (N, 0)
    reg = open_registry(sqlite_url)
    assert [(c.target, c.pending) for c in reg.outbox_counts()] == [("particle", N), ("peridio", N)]
    summary = reg.lot_by_name("CRASH")
    assert (summary.devices, summary.passed) == (N, N)
    reg.close()
