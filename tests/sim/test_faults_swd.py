"""Every SWD-visible fault a twin can inject, seen through pyocd the way the station sees it."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from pyocd.core import exceptions
from pyocd.core.helpers import ConnectHelper
from pyocd.core.session import Session
from pyocd.flash.file_programmer import FileProgrammer
from pyocd_session import session

from station.sim.bench import Bench
from station.sim.device import Twin

ADDR = 0x28000




def program(s: Session, data: bytes, address: int = ADDR) -> None:
    FileProgrammer(s).program(io.BytesIO(data), base_address=address, file_format="bin")


def image(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def test_fault_answer_surfaces_as_a_transfer_fault(twin: Twin, tmp_path: Path) -> None:
    with session(twin, tmp_path) as s:
        twin.set_faults(swd_fault_rate=1.0)
        with pytest.raises(exceptions.TransferFaultError):
            s.target.read32(0x10000060)
        twin.set_faults(swd_fault_rate=0.0)
        assert s.target.read32(0x10000060) == twin.identity.deviceid0


def test_occasional_faults_break_a_flash_job(twin: Twin, tmp_path: Path) -> None:
    with session(twin, tmp_path) as s:
        twin.set_faults(swd_fault_rate=0.02)
        with pytest.raises(exceptions.TransferError):
            program(s, image(32 * 1024))
    assert s.probe.stats["faults"] >= 1


def test_waits_are_retried_by_the_probe(twin: Twin, tmp_path: Path) -> None:
    data = image(16 * 1024)
    with session(twin, tmp_path) as s:
        twin.set_faults(swd_wait_rate=0.3)
        before = twin.clock.device_seconds
        program(s, data)
        assert s.probe.stats["waits"] > 10
        assert twin.clock.device_seconds > before
    assert bytes(twin.flash[ADDR : ADDR + len(data)]) == data


def test_endless_wait_is_a_transfer_timeout(twin: Twin, tmp_path: Path) -> None:
    with session(twin, tmp_path) as s:
        twin.set_faults(swd_wait_rate=1.0)
        with pytest.raises(exceptions.TransferTimeoutError):
            s.target.read32(0x10000100)


def test_unplug_mid_transfer_makes_the_probe_vanish(bench: Bench, twin: Twin, tmp_path: Path) -> None:
    data = image(64 * 1024, 3)
    twin.set_faults(unplug_after_bytes=20 * 1024)
    with pytest.raises(exceptions.ProbeDisconnected):
        with session(twin, tmp_path) as s:
            program(s, data)
    assert not twin.state.plugged
    assert twin.events.kinds()[-1] == "unplug"
    uids = [p.unique_id for p in ConnectHelper.get_all_connected_probes(blocking=False)]
    assert twin.identity.probe_uid not in uids
    written = bytes(twin.flash[ADDR : ADDR + len(data)])
    assert written != data and written[: 16 * 1024] == data[: 16 * 1024]  # partly programmed
    # plug back in, clear the fault, retry: the job completes
    twin.set_faults(unplug_after_bytes=None)
    bench.plug(twin.name)
    with session(twin, tmp_path) as s:
        program(s, data)
    assert bytes(twin.flash[ADDR : ADDR + len(data)]) == data


def test_stuck_word_is_left_erased_and_verify_catches_it(twin: Twin, tmp_path: Path) -> None:
    data = image(8 * 1024, 4)
    stuck = ADDR + 0x1100
    twin.set_faults(stuck_word=stuck)
    with session(twin, tmp_path) as s:
        program(s, data)
        assert s.target.read32(stuck) == 0xFFFFFFFF
        assert s.target.read32(stuck + 4) == int.from_bytes(data[0x1104:0x1108], "little")
        readback = bytes(s.target.read_memory_block8(ADDR, len(data)))
    assert readback != data
    assert {i // 4 * 4 for i in range(len(data)) if readback[i] != data[i]} == {0x1100}


def test_slow_device_takes_longer_in_device_time(bench: Bench, tmp_path: Path) -> None:
    fast, slow = bench.create(2, seed=12)
    slow.set_faults(slow_factor=3.0)
    for t in (fast, slow):
        with session(t, tmp_path) as s:
            program(s, image(16 * 1024, 5))
    assert slow.clock.device_seconds == pytest.approx(3 * fast.clock.device_seconds, rel=0.15)


def test_locked_device_faults_every_memory_access(bench: Bench) -> None:
    from station.sim.chip import chip_for

    locked = bench.create(1, seed=13, approtect=True)[0]
    probe = ConnectHelper.get_all_connected_probes(blocking=False)[0]
    assert probe.unique_id == locked.identity.probe_uid
    probe.open()
    try:
        probe.connect()
        probe.write_dp(0x8, 0x00000000)  # AP0 (AHB-AP), bank 0
        probe.write_ap(0x04, 0x10000060)  # TAR
        with pytest.raises(exceptions.TransferFaultError):
            probe.read_ap(0x0C)  # DRW
        assert probe.read_dp(0x4) & 0x20  # CTRL/STAT.STICKYERR
        with pytest.raises(exceptions.TransferFaultError):  # refused until ABORT clears the flag
            probe.write_dp(0x8, 0x01000000)
        probe.write_dp(0x0, 0x04)  # ABORT.STKERRCLR
        probe.write_dp(0x8, 0x01000000)  # AP1 (CTRL-AP)
        assert probe.read_ap(0x0C) == 0  # APPROTECTSTATUS: enabled
    finally:
        probe.close()
    assert chip_for(locked).protected


def test_twins_sharing_a_device_id_have_their_own_probes(bench: Bench, tmp_path: Path) -> None:
    a = bench.create_one("dup-a", deviceid=(0x11223344, 0x55667788), seed=1)
    b = bench.create_one("dup-b", deviceid=(0x11223344, 0x55667788), seed=2)
    assert a.device_id == b.device_id and len(bench.by_device_id(a.device_id)) == 2
    assert a.identity.probe_uid != b.identity.probe_uid
    for t in (a, b):
        with session(t, tmp_path, connect_mode="attach") as s:
            assert s.target.read32(0x10000060) == 0x11223344


def _raw_probe(twin: Twin) -> object:
    (probe,) = [p for p in ConnectHelper.get_all_connected_probes(blocking=False)
                if p.unique_id == twin.identity.probe_uid]
    probe.open()
    probe.connect()
    return probe


def test_a_fault_holds_the_sticky_flag_and_the_dp_refuses_all_but_dpidr_ctrlstat_and_abort(twin: Twin) -> None:
    """ADIv5 SW-DP: after a FAULT every AP access and most DP accesses answer FAULT (and are not
    performed) until ABORT clears the flag; each ABORT CLR bit clears its own flag only."""
    probe: Any = _raw_probe(twin)
    try:
        probe.write_dp(0x4, 0x50000000)  # power-up requests
        probe.write_dp(0x8, 0x00000000)  # AHB-AP, bank 0
        probe.write_ap(0x04, 0x10000060)  # TAR = FICR.DEVICEID[0]
        twin.set_faults(swd_fault_rate=1.0)
        with pytest.raises(exceptions.TransferFaultError):
            probe.read_ap(0x0C)
        twin.set_faults(swd_fault_rate=0.0)
        # the fault rate is off now, but the flag stays set: the DP keeps refusing
        with pytest.raises(exceptions.TransferFaultError):
            probe.read_ap(0x0C)
        with pytest.raises(exceptions.TransferFaultError):
            probe.write_ap(0x04, 0x10000064)  # TAR: not written
        with pytest.raises(exceptions.TransferFaultError):
            probe.write_dp(0x8, 0x01000000)  # SELECT
        assert probe.read_dp(0x0) == 0x2BA01477  # DPIDR is always readable
        assert probe.read_dp(0x4) & 0x20  # CTRL/STAT too, showing STICKYERR
        with pytest.raises(exceptions.TransferFaultError):  # a CTRL/STAT write is refused as well
            probe.write_dp(0x4, 0x50000020)
        probe.write_dp(0x0, 0x02)  # ABORT.STKCMPCLR: the wrong flag
        assert probe.read_dp(0x4) & 0x20
        probe.write_dp(0x0, 0x04)  # ABORT.STKERRCLR
        assert not probe.read_dp(0x4) & 0x20
        assert probe.read_ap(0x04) == 0x10000060  # the refused TAR write never happened
        assert probe.read_ap(0x0C) == twin.identity.deviceid0
        assert probe.stats["refused"] == 4 and probe.stats["faults"] == 1
    finally:
        probe.close()


def test_a_unit_lifted_from_its_fixture_leaves_the_probe_and_gives_no_ack(bench: Bench, twin: Twin,
                                                                         tmp_path: Path) -> None:
    """What a CMSIS-DAP probe with nothing on its pins gives pyocd: the probe still lists and
    opens, each transfer is a plain TransferError (no ACK), and a fresh connect finds no DP."""
    with session(twin, tmp_path) as s:
        assert s.target.read32(0x10000100) == 0x52840
        bench.lift(twin.name)
        with pytest.raises(exceptions.TransferError) as info:
            s.target.read32(0x10000100)
        assert type(info.value) is exceptions.TransferError and "No ACK" in str(info.value)
    uids = [p.unique_id for p in ConnectHelper.get_all_connected_probes(blocking=False)]
    assert twin.identity.probe_uid in uids  # the fixture's probe is still on USB
    with pytest.raises(exceptions.Error, match="Target not detected") as info2:
        with session(twin, tmp_path):
            pass
    assert type(info2.value.__cause__) is exceptions.TransferError  # DP IDR read got no ACK
    assert twin.events.kinds()[-1] == "lift" and twin.state.run_state == "off"
    bench.plug(twin.name)  # a unit seated again answers
    with session(twin, tmp_path) as s:
        assert s.target.read32(0x10000100) == 0x52840


def test_a_pulled_probe_disconnects_and_is_no_longer_listed(bench: Bench, twin: Twin, tmp_path: Path) -> None:
    with session(twin, tmp_path) as s:
        bench.pull_probe(twin.name)
        with pytest.raises(exceptions.ProbeDisconnected):
            s.target.read32(0x10000100)
    uids = [p.unique_id for p in ConnectHelper.get_all_connected_probes(blocking=False)]
    assert twin.identity.probe_uid not in uids
    assert twin.state.plugged  # the unit is still in its fixture
    bench.attach_probe(twin.name)
    with session(twin, tmp_path) as s:
        assert s.target.read32(0x10000100) == 0x52840
