"""The boot chain of the twin: reset → MBR → UICR.NRFFW[0] → bootloader → modules, or a faulted core."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from click.testing import CliRunner

from station.cli.main import cli
from station.sim import boot
from station.sim.bench import Bench, forget_twins
from station.sim.usb_backend import usb_mode

NRFFW0 = 0x014


def _last_boot(twin) -> dict:  # type: ignore[no-untyped-def]
    return [e for e in twin.events.read() if e["kind"] == "boot"][-1]


def test_stock_twin_arrives_with_mbr_bootloader_and_uicr_and_waits_in_dfu(bench: Bench) -> None:
    twin = bench.create(1, seed=61)[0]
    sp, pc = struct.unpack_from("<II", twin.flash, 0)
    assert 0x20000000 < sp <= 0x20040000 and pc & 1 and (pc & ~1) < 0x1000
    assert struct.unpack_from("<II", twin.uicr, NRFFW0) == (0xF4000, 0x27000)
    assert twin.state.run_state == "dfu" and usb_mode(twin.state) == "dfu"
    assert boot.power_on(twin).run_state == "dfu"


def test_blank_chip_never_boots_and_has_no_usb_face(bench: Bench, demo) -> None:  # type: ignore[no-untyped-def]
    twin = bench.create(1, seed=62, blank=True)[0]
    assert twin.state.run_state == "fault" and usb_mode(twin.state) is None
    # Every Particle module, all valid, but no MBR: the reset vector is erased flash.
    demo.install(twin, "user-product")
    st = boot.power_on(twin)
    assert st.run_state == "fault" and usb_mode(st) is None
    ev = _last_boot(twin)
    assert ev["run_state"] == "fault" and "no MBR" in ev["reason"] and "0xFFFFFFFE" in ev["reason"]
    assert "first_connect" not in twin.events.kinds()


def test_mbr_without_a_bootloader_address_faults(bench: Bench, demo) -> None:  # type: ignore[no-untyped-def]
    twin = bench.create(1, seed=63)[0]
    demo.install(twin, "user-product")
    twin.uicr[NRFFW0 : NRFFW0 + 4] = b"\xff" * 4  # what an erase-all that restores nothing leaves
    st = boot.power_on(twin)
    assert st.run_state == "fault" and usb_mode(st) is None
    assert "NRFFW[0]" in _last_boot(twin)["reason"]
    assert "first_connect" not in twin.events.kinds()


def test_the_mbr_jumps_where_nrffw0_points_and_needs_a_valid_bootloader_there(bench: Bench) -> None:
    twin = bench.create(1, seed=64)[0]
    twin.uicr[NRFFW0 : NRFFW0 + 4] = struct.pack("<I", 0xE8000)  # an address with nothing there
    assert boot.power_on(twin).run_state == "fault"
    assert "no bootloader at 0xE8000" in _last_boot(twin)["reason"]
    twin.uicr[NRFFW0 : NRFFW0 + 4] = struct.pack("<I", 0xF4000)
    twin.flash[0xF4000 + 0x400] ^= 0x01  # one bit of the bootloader's code: its CRC no longer holds
    assert boot.power_on(twin).run_state == "fault"
    assert "CRC" in _last_boot(twin)["reason"]
    twin.flash[0xF4000 + 0x400] ^= 0x01
    assert boot.power_on(twin).run_state == "dfu"


def test_stock_twin_with_modules_runs_them(bench: Bench, demo) -> None:  # type: ignore[no-untyped-def]
    twin = bench.create(1, seed=65)[0]
    demo.install(twin, "user-factory-test")
    st = boot.power_on(twin)
    assert (st.run_state, st.running_app) == ("running", "factory-test")


def test_sim_create_stock_by_default_blank_on_request(tmp_path: Path) -> None:
    d = str(tmp_path / "bench")
    runner = CliRunner()
    out = runner.invoke(cli, ["sim", "create", "1", "--dir", d, "--seed", "3", "--json"])
    assert out.exit_code == 0, out.output
    (stock,) = json.loads(out.output)
    assert stock["run_state"] == "dfu" and stock["build_code"] == "D"
    out = runner.invoke(cli, ["sim", "create", "1", "--dir", d, "--blank", "--build-code", "F", "--json"])
    assert out.exit_code == 0, out.output
    (blank,) = json.loads(out.output)
    assert blank["run_state"] == "fault" and blank["build_code"] == "F"
    assert Bench(d).get(blank["name"]).identity.variant == "AAF0"
    forget_twins(d)
