"""Hotplug and bench mode: plug a device in and it starts; unplug it and its run ends cleanly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from station.domain import Transport
from station.hw.hotplug import HotplugEvent, HotplugWatcher, probe_lister, usb_lister
from station.pipeline.autostart import AutoProvisioner
from station.pipeline.events import Event
from station.sim.bench import Bench

from .conftest import Line, drop_tests, never_connected, profile_variant, ship_with_bootloader


def _wait(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_watcher_reports_arrivals_and_departures(bench: Bench) -> None:
    seen: list[HotplugEvent] = []
    watcher = HotplugWatcher(seen.append, listers=(probe_lister, usb_lister))
    a, b = bench.create(2, seed=41)
    watcher.poll()
    arrived = {(e.source, e.key, e.mode) for e in seen if e.kind == "arrived"}
    assert ("probe", a.identity.probe_uid, None) in arrived
    assert ("usb", a.device_id, "dfu") in arrived and ("usb", b.device_id, "dfu") in arrived
    seen.clear()
    bench.unplug(a.name)
    watcher.poll()
    assert {(e.kind, e.source, e.key) for e in seen} == {
        ("left", "probe", a.identity.probe_uid),
        ("left", "usb", a.device_id),
    }
    seen.clear()
    watcher.poll()
    assert seen == [], "no change, no event"


def test_watcher_runs_in_the_background_without_blocking(bench: Bench) -> None:
    seen: list[HotplugEvent] = []
    with HotplugWatcher(seen.append, listers=(usb_lister,), interval=0.1):
        twin = bench.create(1, seed=42)[0]
        _wait(lambda: any(e.key == twin.device_id and e.kind == "arrived" for e in seen), 10)
        bench.unplug(twin.name)
        _wait(lambda: any(e.key == twin.device_id and e.kind == "left" for e in seen), 10)


def _usb_profile(tmp_path: Path) -> Path:
    return profile_variant(
        tmp_path,
        lambda t: drop_tests(t, "approtect-open").replace('transport = "swd"', 'transport = "usb"')
        .replace('action = "halt"', 'action = "dfu"'),
    )


def test_plugging_a_device_in_starts_its_provisioning_once(line: Line, bench: Bench, tmp_path: Path) -> None:
    job = line.job(_usb_profile(tmp_path))
    auto = AutoProvisioner(job, Transport.USB)
    seen: list[HotplugEvent] = []

    def watch(ev: HotplugEvent) -> None:
        auto(ev)
        seen.append(ev)  # after the provisioner handled it

    with HotplugWatcher(watch, listers=(usb_lister,), interval=0.1):
        twin = bench.create_one("bench01")
        ship_with_bootloader(twin)
        _wait(lambda: len(auto.results) == 1)
        # Its own DFU → normal → DFU switches during the run did not start a second run.
        time.sleep(0.5)
        assert len(auto.results) == 1 and not auto.active
        assert auto.results[0].outcome == "passed", auto.results[0].reason
        # Unplug and plug it back: a new run starts; the registry says it is done, so it is skipped.
        before = len(seen)
        bench.unplug(twin.name)
        _wait(lambda: any(e.kind == "left" and e.key == twin.device_id for e in seen[before:]))
        bench.plug(twin.name)
        _wait(lambda: len(auto.results) == 2)
    assert auto.results[1].outcome == "skipped"
    # While the station had it, it never connected. Powering a finished device again (the re-plug)
    # runs its product firmware — physics, not the station: the README says so to operators.
    kinds = twin.events.kinds()
    assert "first_connect" not in kinds[: kinds.index("unplug")]
    assert twin.key_present()


def test_unplugging_mid_run_ends_that_run_cleanly(line: Line, bench: Bench, tmp_path: Path) -> None:
    job = line.job(_usb_profile(tmp_path))
    auto = AutoProvisioner(job, Transport.USB)
    holder: dict[str, str] = {}

    def pull_during_tests(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == "functional-tests" and "done" not in holder:
            holder["done"] = "yes"
            bench.unplug(holder["name"])

    line.hooks.append(pull_during_tests)
    with HotplugWatcher(auto, listers=(usb_lister,), interval=0.1):
        twin = bench.create_one("bench02")
        holder["name"] = twin.name
        ship_with_bootloader(twin)
        _wait(lambda: len(auto.results) == 1)
    r = auto.results[0]
    assert (r.outcome, r.fault) == ("failed", "device-gone") and r.reason  # over USB the unit left: FAIL
    assert not auto.active
    never_connected(twin)


def test_swd_bench_mode_starts_a_run_when_a_probe_appears(line: Line, bench: Bench) -> None:
    job = line.job()
    auto = AutoProvisioner(job, Transport.SWD, slot_names={})
    with HotplugWatcher(auto, listers=(probe_lister,), interval=0.1):
        twin = bench.create(1, seed=43)[0]
        _wait(lambda: len(auto.results) == 1)
    assert auto.results[0].outcome == "passed", auto.results[0].reason
    assert auto.results[0].device_id == twin.device_id
    never_connected(twin)


def test_swd_line_a_unit_seated_behind_a_probe_that_stays_starts_once(line: Line, bench: Bench) -> None:
    from station.hw.swd.presence import target_answers

    job = line.job()
    auto = AutoProvisioner(job, Transport.SWD, slot_names={}, target_check=target_answers)
    assert auto.seats is not None
    twin = bench.create(1, seed=44)[0]
    bench.lift(twin.name)  # the fixture is empty when the line starts: nothing runs
    with HotplugWatcher(auto, listers=(probe_lister,), interval=0.1):
        auto.seats.start()
        try:
            _wait(lambda: auto.seats is not None and auto.seats.checks >= 3)
            assert auto.results == [] and not auto.active
            bench.plug(twin.name)  # a unit seated
            _wait(lambda: len(auto.results) == 1)
            checks = auto.seats.checks
            _wait(lambda: auto.seats is not None and auto.seats.checks >= checks + 5)
            assert len(auto.results) == 1 and not auto.active  # the finished unit is not run again
            bench.lift(twin.name)  # taken out, the next seated
            checks = auto.seats.checks
            _wait(lambda: auto.seats is not None and auto.seats.checks >= checks + 2)
            bench.plug(twin.name)
            _wait(lambda: len(auto.results) == 2)
        finally:
            auto.seats.stop()
    assert auto.results[0].outcome == "passed", auto.results[0].reason
    assert auto.results[1].outcome in ("passed", "skipped"), auto.results[1].reason
