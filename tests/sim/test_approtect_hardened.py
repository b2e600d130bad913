"""Build code D and F APPROTECT on the twin, seen from the wire (CTRL-AP and AHB-AP) and by pyocd."""

from __future__ import annotations

from pathlib import Path

from pyocd_session import session
from test_swd_chip import AIRCR, CSW, DEMCR, DHCSR, Wire

from station.sim.bench import Bench
from station.sim.chip import chip_for, drop_chip
from station.sim.device import Twin

APPROTECTSTATUS, ERASEALL, RESET = 0x00C, 0x004, 0x000


def _open(w: Wire) -> bool:
    status = w.ap_read(1, APPROTECTSTATUS)
    assert status in (0, 1) and bool(w.ap_read(0, CSW) & 0x40) == bool(status)  # DeviceEn agrees
    return status == 1


def _ctrl_ap_reset(w: Wire) -> None:
    w.ap_write(1, RESET, 1)
    w.ap_write(1, RESET, 0)


def test_stock_f_part_is_hwdisabled_and_its_bootloader_opens_the_port(bench: Bench) -> None:
    twin = bench.create(1, seed=71, build_code="F")[0]
    assert twin.identity.variant == "AAF0" and twin.uicr[0x208] == 0x5A
    w = Wire(chip_for(twin))
    assert _open(w)
    _ctrl_ap_reset(w)  # the core runs: MBR → bootloader 3100 → APPROTECT.DISABLE = SwDisable
    assert twin.state.run_state == "dfu" and _open(w)


def test_f_part_relocks_when_reset_stops_at_the_vector(bench: Bench) -> None:
    """HwDisabled is not enough: with the core halted at reset no firmware opened the port."""
    twin = bench.create(1, seed=72, build_code="F")[0]
    w = Wire(chip_for(twin))
    w.write32(DHCSR, 0xA05F0001)
    w.write32(DEMCR, 1)  # VC_CORERESET
    w.write32(AIRCR, 0x05FA0004)
    assert not _open(w) and twin.state.run_state == "halted"
    _ctrl_ap_reset(w)  # vector catch survives a system reset, and the port is locked: halted again
    assert not _open(w)
    bench.unplug(twin.name)  # a power cycle clears the debug logic: the bootloader runs and opens it
    bench.plug(twin.name)
    chip = chip_for(twin)
    chip.resync()  # what the probe does when it is opened again
    assert twin.state.run_state == "dfu" and _open(Wire(chip))


def test_f_part_without_hwdisabled_relocks_at_every_reset_until_eraseall(bench: Bench) -> None:
    twin = bench.create(1, seed=73, build_code="F")[0]
    twin.uicr[0x208] = 0xFF  # the UICR as an erase-all leaves it
    w = Wire(chip_for(twin))
    _ctrl_ap_reset(w)
    assert twin.state.run_state == "dfu" and not _open(w)  # the bootloader ran and left it locked
    w.ap_write(1, ERASEALL, 1)
    assert w.ap_read(1, 0x008) == 0 and _open(w)  # open until the next reset
    assert w.read32(0x10000104) == int.from_bytes(b"AAF0", "big")  # FICR INFO.VARIANT readable now
    _ctrl_ap_reset(w)  # nWP-027's closing reset (ERASEALL still 1) keeps the port the erase opened
    w.ap_write(1, ERASEALL, 0)
    assert twin.state.run_state == "fault" and _open(w)
    _ctrl_ap_reset(w)  # any later reset: blank after the erase, nothing opens it again
    assert twin.state.run_state == "fault" and not _open(w)


def test_pyocd_recovers_a_locked_f_part_and_persists_hwdisabled(bench: Bench, tmp_path: Path) -> None:
    """pyOCD's own unlock on a hardened part: mass erase, then UICR.APPROTECT = HwDisabled (persist_unlock)."""
    twin = bench.create(1, seed=77, build_code="F", approtect=True)[0]
    assert not _open(Wire(chip_for(twin)))
    with session(twin, tmp_path, auto_unlock=True) as s:
        assert not s.target.is_locked()
        assert s.target.read32(0x10001208) == 0x5A
    assert twin.uicr[0x208] == 0x5A and bytes(twin.flash[:8]) == b"\xff" * 8


def test_d_part_is_locked_by_any_value_but_0xff(bench: Bench) -> None:
    twin = bench.create(1, seed=74)[0]
    assert twin.uicr[0x208] == 0xFF
    twin.uicr[0x208] = 0x5A  # HwDisabled means "enabled" on pre-F silicon
    w = Wire(chip_for(twin))
    _ctrl_ap_reset(w)
    assert twin.state.run_state == "dfu" and not _open(w)


def test_state_of_an_opened_f_part_is_seen_by_a_new_process(bench: Bench, twin: Twin) -> None:
    f = bench.create(1, seed=75, build_code="F")[0]
    w = Wire(chip_for(f))
    w.write32(DEMCR, 1)
    w.write32(DHCSR, 0xA05F0001)
    w.write32(AIRCR, 0x05FA0004)
    assert not _open(w)
    drop_chip(f)  # as another process attaching later would see it
    assert not _open(Wire(chip_for(f)))


def test_pyocd_sees_a_hardened_part(bench: Bench, tmp_path: Path) -> None:
    twin = bench.create(1, seed=76, build_code="F")[0]
    with session(twin, tmp_path) as s:
        assert s.target.hardened_approtect and not s.target.is_locked()
        assert s.target.read32(0x10001208) == 0xFFFFFF5A
