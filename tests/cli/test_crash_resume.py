"""kill -9 of a station in the middle of a lot loses nothing and duplicates nothing after a restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.sim.bench import Bench, forget_twins
from station.store.registry import open_registry

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def _registered_and_running(db: Path) -> tuple[int, int]:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            done = c.execute("select count(*) from devices where product_id is not null").fetchone()[0]
            running = c.execute("select count(*) from attempts where outcome = 'running'").fetchone()[0]
            return int(done), int(running)
    except sqlite3.Error:
        return 0, 0


@pytest.mark.slow
def test_kill_9_mid_lot_then_rerun_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "bench")
    twins = bench.create(4, seed=77)
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    db = tmp_path / "reg.db"
    env = {**os.environ, "STATION_SIM_DIR": str(bench.path), "STATION_CACHE": str(cache.root),
           "STATION_DB": f"sqlite:///{db}"}
    # A silent modem keeps one device's attempt open for ~20 s, so the kill surely lands mid-flight.
    twins[2].set_faults(modem_silent=True)
    # Three of the four devices first, so the kill lands with some devices done and others mid-flight.
    slots = ",".join(f"{i + 1}={t.identity.probe_uid}" for i, t in enumerate(twins[:3]))
    cmd = [sys.executable, "-m", "station", "provision", "--profile", str(PROFILE), "--lot", "LOT-K",
           "--answer", "led=yes", "--station", "st1"]
    proc = subprocess.Popen([*cmd, "--slots", slots], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    # Kill once one device is registered and another attempt is in flight.
    while not (lambda d, r: d >= 1 and r >= 1)(*_registered_and_running(db)):
        assert proc.poll() is None, "the station finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    # Restart the station on all four devices (the modem works again).
    twins[2].set_faults(modem_silent=False)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr

    reg = open_registry(f"sqlite:///{db}")
    rows = reg.manifest_rows("LOT-K")
    assert sorted(r.device_id for r in rows) == sorted(t.device_id for t in twins)
    with sqlite3.connect(db) as c:
        # every registered device has exactly one outbox entry per target, and no orphan entries
        per_device = dict(c.execute(
            "select device_id, count(*) from outbox where state != 'superseded' group by device_id").fetchall())
        registered = [r[0] for r in c.execute("select device_id from devices where product_id is not null")]
        targets = c.execute("select count(distinct target) from outbox").fetchone()[0]
        running = c.execute("select count(*) from attempts where outcome = 'running'").fetchone()[0]
        abandoned = c.execute(
            "select count(*) from attempts where outcome = 'failed' and reason like '%stopped%'").fetchone()[0]
    assert sorted(registered) == sorted(t.device_id for t in twins)
    assert set(per_device) == set(registered)
    assert all(n == targets for n in per_device.values()), per_device
    assert running == 0, "no attempt is left open"
    assert abandoned >= 1, "the killed station's in-flight attempt is closed as failed"
    for t in twins:
        assert "first_connect" not in t.events.kinds()
        assert t.key_present()
    forget_twins(bench.path)


def _popen_as_from_a_shell(cmd: list[str], **kw: Any) -> subprocess.Popen[str]:
    """Start ``cmd`` with SIGINT at its default, as a shell starts a foreground command.

    A child inherits an ignored SIGINT, and pytest started as a background job of a non-interactive
    shell (``pytest ... &`` in a script) has it ignored: the station then never saw the test's
    SIGINT and ran both devices to their end ("failed" on the silent modem), whatever the runner.
    A Python handler is reset to the default by exec, so one is set around the start.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(cmd, text=True, **kw)
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "group"), [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
                         ids=["ctrl-c", "sigint-to-the-station-only", "sigterm"])
def test_ctrl_c_cancels_between_steps_and_records_it(tmp_path: Path, sig: signal.Signals, group: bool) -> None:
    """Ctrl-C, and SIGTERM (a service manager stopping the station) the same way (issue 10, item 13).

    A terminal's Ctrl-C goes to the whole foreground process group: the slots' worker processes get
    it too and must leave the cancel to the station's main process; a ``kill -INT`` reaches the
    station alone."""
    bench = Bench(tmp_path / "bench")
    twins = bench.create(2, seed=78)
    for t in twins:
        t.set_faults(modem_silent=True)  # long functional tests: the interrupt lands mid-run
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    db = tmp_path / "reg.db"
    env = {**os.environ, "STATION_SIM_DIR": str(bench.path), "STATION_CACHE": str(cache.root),
           "STATION_DB": f"sqlite:///{db}"}
    proc = _popen_as_from_a_shell(
        [sys.executable, "-m", "station", "provision", "--profile", str(PROFILE), "--lot", "LOT-C", "--json",
         "--answer", "led=yes"],  # without a terminal, operator steps must be answered ahead
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=group)
    deadline = time.monotonic() + 120
    while True:
        _done, running = _registered_and_running(db)
        if running >= 2:
            break
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    if group:  # its own session: the group is the station and its workers, not pytest
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    with sqlite3.connect(db) as c:
        outcomes = [r[0] for r in c.execute("select outcome from attempts")]
        audit = [r[0] for r in c.execute("select action from audit")]
    assert outcomes == ["cancelled", "cancelled"]
    assert "run-cancelled" in audit and "run-started" in audit
    for t in twins:
        assert "first_connect" not in t.events.kinds()
        assert t.state.run_state != "running" or t.state.running_app == "factory-test"
    forget_twins(bench.path)


@pytest.mark.slow
def test_a_second_process_of_the_same_station_leaves_the_first_ones_attempts_alone(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "bench")
    slow, other = bench.create(2, seed=79)
    slow.set_faults(modem_silent=True)  # keeps the first process's attempt open for a while
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    db = tmp_path / "reg.db"
    env = {**os.environ, "STATION_SIM_DIR": str(bench.path), "STATION_CACHE": str(cache.root),
           "STATION_DB": f"sqlite:///{db}"}
    base = [sys.executable, "-m", "station", "provision", "--profile", str(PROFILE), "--lot", "LOT-P",
            "--answer", "led=yes", "--station", "shared-name"]
    first = subprocess.Popen([*base, "--slots", f"1={slow.identity.probe_uid}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _registered_and_running(db)[1] < 1:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run([*base, "--slots", f"2={other.identity.probe_uid}"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    with sqlite3.connect(db) as c:
        abandoned = c.execute("select count(*) from attempts where reason like '%stopped%'").fetchone()[0]
    assert abandoned == 0, "the live first process's attempt was not closed by the second"
    first.wait(timeout=120)
    with sqlite3.connect(db) as c:
        outcomes = sorted(r[0] for r in c.execute("select outcome from attempts"))
    assert outcomes == ["failed", "passed"]  # the first failed on its silent modem, on its own terms
    forget_twins(bench.path)
