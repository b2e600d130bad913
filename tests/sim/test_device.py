"""The twin's device model and bench: identity, persistence across processes, faults, hotplug."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from station.domain import gen3_ficr_words, luhn_ok
from station.sim.bench import Bench, default_bench, set_default_bench
from station.sim.clock import DeviceClock
from station.sim.device import Twin


def test_identity_of_a_new_twin(bench: Bench) -> None:
    t = bench.create(1, "boron", seed=31)[0]
    assert t.device_id.startswith("e00fce68") and len(t.device_id) == 24
    assert gen3_ficr_words(t.device_id) == (t.identity.deviceid0, t.identity.deviceid1)
    assert t.identity.imei and luhn_ok(t.identity.imei) and len(t.identity.imei) == 15
    assert t.identity.iccid and luhn_ok(t.identity.iccid)
    assert t.key_present()
    assert t.otp_read(0, 15).decode() == t.identity.serial_number == t.serial_number()
    assert t.identity.build_code == "D" and not t.identity.hardened_approtect
    blank = bench.create(1, "boron", seed=31, blank=True)[0]
    assert bytes(blank.flash[:16]) == b"\xff" * 16 and blank.state.run_state == "fault"


def test_wifi_platform_has_no_cellular_identity(bench: Bench) -> None:
    t = bench.create(1, "argon", seed=32)[0]
    assert t.identity.imei is None and t.identity.iccid is None


def test_seeded_benches_are_reproducible(tmp_path: Path) -> None:
    a = Bench(tmp_path / "a").create(3, seed=7)
    b = Bench(tmp_path / "b").create(3, seed=7)
    assert [t.device_id for t in a] == [t.device_id for t in b]
    assert len({t.device_id for t in a}) == 3
    assert a[0].device_key() == b[0].device_key()


def test_twins_are_cached_per_process_per_folder(bench: Bench) -> None:
    t = bench.create(1, seed=33)[0]
    assert Bench(bench.path).get(t.name) is t
    assert bench.twins() == [t]
    assert bench.by_probe_uid(t.identity.probe_uid) is t
    assert bench.by_device_id(t.device_id.upper()) == [t]
    with pytest.raises(KeyError):
        bench.get("nope")


def test_default_bench_follows_env_unless_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_default_bench(None)
    monkeypatch.setenv("STATION_SIM_DIR", str(tmp_path / "env"))
    assert default_bench() is not None and default_bench().path == (tmp_path / "env").resolve()  # type: ignore[union-attr]
    set_default_bench(tmp_path / "set")
    try:
        assert default_bench().path == (tmp_path / "set").resolve()  # type: ignore[union-attr]
    finally:
        set_default_bench(None)
    monkeypatch.delenv("STATION_SIM_DIR")
    assert default_bench() is None


def test_another_process_sees_flash_and_state_at_once(bench: Bench) -> None:
    t = bench.create(1, seed=34)[0]
    code = (
        "import sys; from station.sim.device import Twin; t = Twin.open(sys.argv[1]); "
        "t.flash[0x1000:0x1004] = b'\\x01\\x02\\x03\\x04'; t.update_state(run_state='halted'); "
        "t.set_faults(slow_factor=4.0)"
    )
    subprocess.run([sys.executable, "-c", code, str(t.path)], check=True, timeout=60)
    assert bytes(t.flash[0x1000:0x1004]) == b"\x01\x02\x03\x04"
    assert t.state.run_state == "halted"
    assert t.current_faults().slow_factor == 4.0


def test_unplug_and_plug_are_recorded_and_bump_the_generation(bench: Bench) -> None:
    t = bench.create(1, seed=35)[0]
    g = t.state.generation
    bench.unplug(t.name)
    assert (t.state.plugged, t.state.run_state) == (False, "off")
    bench.plug(t.name)
    assert t.state.plugged and t.state.generation > g + 1
    assert t.events.kinds()[-3:] == ["unplug", "plug", "boot"]


def test_unplug_after_bytes_counts_across_faces(bench: Bench) -> None:
    t = bench.create(1, seed=36)[0]
    t.set_faults(unplug_after_bytes=1000)
    assert not t.count_flash_bytes(600)
    assert t.count_flash_bytes(600)
    assert not t.state.plugged


def test_wrong_platform_fault_changes_what_the_device_reports(bench: Bench) -> None:
    t = bench.create(1, "boron", seed=37)[0]
    t.set_faults(wrong_platform="argon")
    assert t.reported_platform.name == "argon" and t.platform.name == "boron"


def test_external_flash_programs_like_nor(bench: Bench) -> None:
    t = bench.create(1, seed=38)[0]
    t.program_ext(0x20000, b"\x0f\xf0")
    t.program_ext(0x20000, b"\xff\x00")
    assert bytes(t.ext_flash[0x20000:0x20002]) == b"\x0f\x00"
    t.erase_ext(0x20000, 0x1000)
    assert bytes(t.ext_flash[0x20000:0x20002]) == b"\xff\xff"
    with pytest.raises(ValueError):
        t.erase_ext(len(t.ext_flash), 1)


def test_realtime_clock_tracks_device_time() -> None:
    clock = DeviceClock(realtime=True)
    start = clock.snapshot()
    for _ in range(50):
        clock.advance(0.002)
    span = clock.snapshot() - start
    assert span.device == pytest.approx(0.1)
    assert 0.095 <= span.wall < 5.0  # it waits for device time; the bound only says it does not wait for ever


def test_fast_clock_only_counts_and_slow_factor_scales(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("station.sim.clock.time.sleep", slept.append)
    clock = DeviceClock(realtime=False, slow_factor=lambda: 3.0)
    clock.advance(10.0)
    assert slept == []  # a fast clock counts device time and never waits for it
    assert clock.device_seconds == pytest.approx(30.0)


def test_a_transfer_after_the_host_was_away_credits_the_background_work_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host starts a flash algorithm (NVMC work in the background), sleeps through most of it
    (the station's pacing), then makes an SWD transfer: the device worked meanwhile, so the work is
    that much nearer its end, as a poll would have found. Dropping the time as "the device sat idle"
    (re-anchoring) made the host wait the whole sleep again. Virtual wall time: nothing here sleeps."""
    now = [100.0]
    slept: list[float] = []
    monkeypatch.setattr("station.sim.clock.time.perf_counter", lambda: now[0])
    monkeypatch.setattr("station.sim.clock.time.sleep", slept.append)
    clock = DeviceClock(realtime=True)
    clock.background(1.2, started=now[0])  # a 29-page run's NVMC writes
    now[0] += 0.9  # the host sleeps 0.9 s
    clock.advance(0.0005)  # one DAP packet (its TAR write, say), before any DHCSR poll
    assert clock.still_busy()
    assert clock.device_seconds == pytest.approx(0.9005)  # 0.3 s of the work is left, not 1.2
    now[0] += 0.4
    assert not clock.still_busy()
    clock.catch_up()
    assert clock.device_seconds == pytest.approx(1.2)
    assert slept == []  # device time never ran ahead of wall time
    now[0] += 5.0  # idle with nothing in the background: re-anchored, nothing credited, no sleep owed
    clock.advance(0.0005)
    assert clock.device_seconds == pytest.approx(1.2005) and slept == []


def test_open_twin_from_path(bench: Bench) -> None:
    t = bench.create(1, seed=39)[0]
    with Twin.open(t.path) as other:
        assert other.device_id == t.device_id


def test_realtime_sleep_waits_for_the_twins_lock_to_be_free(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """Device time charged under the twin's lock is slept after the release: another face of the twin
    (serial, control, a second reader) gets the lock meanwhile, and the charging thread still waits."""
    t = bench.create(1, seed=40)[0]
    t.clock.realtime = True
    free_while_sleeping: list[bool] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        got: list[bool] = []

        def other_face() -> None:
            ok = t.lock.acquire(blocking=False)
            got.append(ok)
            if ok:
                t.lock.release()

        th = threading.Thread(target=other_face)
        th.start()
        th.join()
        free_while_sleeping.append(got[0])
        slept.append(seconds)

    monkeypatch.setattr("station.sim.clock.time.sleep", sleep)
    with t.lock, t.lock:  # re-entrant: the sleep waits for the outermost release
        t.clock.advance(0.5)
        t.clock.advance(0.5)
        assert slept == []
    assert free_while_sleeping == [True]
    assert slept[0] == pytest.approx(1.0, abs=0.2)  # the thread that charged the time still waits for all of it
    t.clock.advance(0.5)  # without the lock: sleeps at once
    assert len(slept) == 2
