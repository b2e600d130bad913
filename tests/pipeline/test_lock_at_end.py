"""Readback protection as the last step on the device: proven by the CTRL-AP after a reset, recorded per device."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli.main import cli
from station.sim.bench import Bench
from station.sim.chip import chip_for, drop_chip
from station.sim.device import Twin

from .conftest import DEMO_BORON, Line, never_connected, profile_variant


def _locking(tmp_path: Path) -> Path:
    return profile_variant(tmp_path, lambda t: t.replace('action = "halt"', 'action = "halt"\nlock_debug_port = true'),
                           "lock.toml")


def _ctrl_ap_says_locked(twin: Twin) -> bool:
    """APPROTECTSTATUS as a fresh probe reads it (DP SELECT = CTRL-AP, register 0x00C)."""
    dap = chip_for(twin).dap
    dap.write_dp(0x8, 1 << 24)
    return dap.read_ap(0x00C) == 0


@pytest.mark.parametrize("build_code", ["D", "F"])
def test_lock_is_the_last_step_on_the_device_and_holds_after_power_cycles(
    line: Line, bench: Bench, tmp_path: Path, build_code: str
) -> None:
    twin = bench.create(1, seed=98 if build_code == "D" else 99, build_code=build_code)[0]
    (result,) = line.swd([twin], profile=_locking(tmp_path))
    assert result.outcome == "passed", result.reason
    names = [name for name, _, _ in result.steps]
    assert names.index("secure-state") < names.index("lock-debug-port") < names.index("register")
    assert twin.uicr[0x208] == 0x00 and _ctrl_ap_says_locked(twin)
    lot = line.registry.lots()[0]
    (attempt,) = line.registry.attempt_details(lot.name).values()
    lock = next(s for s in attempt["steps"] if s["name"] == "lock-debug-port")
    assert lock["outcome"] == "passed" and lock["details"]["locked"] is True and "APPROTECTSTATUS" in lock["details"]["proof"]
    assert [r.device_id for r in line.registry.manifest_rows(lot.name)] == [twin.device_id]
    never_connected(twin)  # the lock's reset ran no firmware
    # The next run sees a locked part and leaves it alone (recovering needs allow_recover + an engineer).
    again = line.swd([twin], profile=_locking(tmp_path))[0]
    assert again.failing_step == "identify" and "locked" in (again.reason or "")
    assert twin.uicr[0x208] == 0x00
    for _ in range(2):  # at the customer: the product boots at every power-on and the port stays shut
        bench.unplug(twin.name)
        bench.plug(twin.name)
        drop_chip(twin)
        assert _ctrl_ap_says_locked(twin)


def test_lock_needs_swd_and_a_halted_end(tmp_path: Path) -> None:
    usb = tmp_path / "usb.toml"
    usb.write_text(DEMO_BORON.read_text().replace('transport = "swd"', 'transport = "usb"')
                   .replace('action = "halt"', 'action = "dfu"\nlock_debug_port = true'))
    out = CliRunner().invoke(cli, ["profile", "check", str(usb)])
    assert out.exit_code == 2 and "lock_debug_port" in out.output and "SWD" in out.output
    held = tmp_path / "held.toml"
    held.write_text(DEMO_BORON.read_text().replace('action = "halt"', 'action = "hold-reset"\nlock_debug_port = true'))
    out = CliRunner().invoke(cli, ["profile", "check", str(held)])
    assert out.exit_code == 2 and 'needs action = "halt"' in out.output


def test_an_f_part_as_the_module_maker_left_it_stays_open_through_the_line_and_is_locked_at_its_end(
    line: Line, bench: Bench, tmp_path: Path
) -> None:
    """Issue 9's done-when in one run: hardened APPROTECT written (HwDisabled), the port proven open
    after the line's reset, then locked as the last step and proven locked after later resets."""
    twin = bench.create(1, seed=100, build_code="F")[0]
    twin.uicr[0x208] = 0xFF  # UICR.APPROTECT erased: an F part re-locks at its next reset
    twin.update_state(ap_open=True)
    (result,) = line.swd([twin], profile=_locking(tmp_path))
    assert result.outcome == "passed", result.reason
    lot = line.registry.lots()[0]
    (attempt,) = line.registry.attempt_details(lot.name).values()
    details = {s["name"]: s["details"] for s in attempt["steps"]}
    assert details["identify"]["variant"] == "AAF0" and details["identify"]["hardened_approtect"] is True
    assert details["flash"]["uicr_written"] == {"0x10001208": "0xFFFFFF5A"}  # HwDisabled, recorded
    assert details["start-test-firmware"]["approtect_after_reset"].startswith("open")
    assert details["lock-debug-port"]["locked"] is True
    assert twin.uicr[0x208] == 0x00
    never_connected(twin)  # nothing on the line booted the product
    for _ in range(2):  # at the customer: every power-on resets the part, and the port stays shut
        bench.unplug(twin.name)
        bench.plug(twin.name)
        drop_chip(twin)
        assert _ctrl_ap_says_locked(twin)
