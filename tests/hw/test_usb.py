"""Listing and control requests through real pyusb against twins."""

from __future__ import annotations

import pytest

from station.domain import PARTICLE_VID
from station.errors import DeviceGone, RequestNotSupported
from station.firmware.demo import BOOTLOADER_DEPENDENCY, DEVICE_OS_VERSION, SYSTEM_VERSION, USER_PART_INDEX
from station.firmware.demo import build_demo_modules as demo_modules
from station.firmware.module import parse_module
from station.hw.dfu import enter_dfu
from station.hw.usb import find_device, list_usb_devices, open_control
from station.sim.bench import Bench
from station.sim.usb_backend import hold_exclusive
from tests.hw.conftest import install

pytestmark = pytest.mark.timeout(60)


def test_lists_twins_in_both_modes_by_device_id(sim_bench: Bench) -> None:
    blank, flashed = sim_bench.create(2, seed=3)
    install(flashed)
    infos = {i.device_id: i for i in list_usb_devices()}
    assert infos[blank.device_id].mode == "dfu"
    assert infos[blank.device_id].pid == 0xD00D
    assert infos[flashed.device_id].mode == "normal"
    assert infos[flashed.device_id].pid == 0xC00D
    assert all(i.vid == PARTICLE_VID and i.platform_id == 13 and i.error is None for i in infos.values())


def test_halted_and_unplugged_twins_are_not_listed(sim_bench: Bench) -> None:
    a, b, c = sim_bench.create(3, seed=4)
    b.update_state(run_state="halted")
    c.unplug()
    assert [i.device_id for i in list_usb_devices()] == [a.device_id]


def test_busy_device_is_listed_with_error_and_others_still_listed(sim_bench: Bench) -> None:
    a, b = sim_bench.create(2, seed=5)
    with hold_exclusive(a):
        infos = list_usb_devices()
    assert len(infos) == 2
    busy = [i for i in infos if i.error]
    assert len(busy) == 1 and "busy" in (busy[0].error or "").lower()
    assert [i.device_id for i in infos if not i.error] == [b.device_id]


def test_control_requests(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=6)
    install(twin)
    with open_control(twin.device_id) as ctl:
        assert ctl.get_device_id() == twin.device_id
        assert ctl.get_system_version() == DEVICE_OS_VERSION
        assert ctl.get_serial_number() == twin.serial_number()
        mods = {(m.function, m.index): m for m in ctl.get_module_info()}
        system = mods[(4, 1)]
        assert system.version == SYSTEM_VERSION and system.valid and system.failed_checks == 0
        assert (2, 0, BOOTLOADER_DEPENDENCY) in system.dependencies
        assert (5, USER_PART_INDEX) in mods and (2, 0) in mods and (8, 0) in mods
        user = parse_module(demo_modules("boron")["user-factory-test"])
        assert mods[(5, USER_PART_INDEX)].sha256 == user.sha256 and mods[(5, USER_PART_INDEX)].size == user.end - user.start + 4
        # Device OS 4.0+ dropped the DCT setup-done flag: "done" is always true, clearing it is refused
        assert ctl.is_setup_done() is True
        ctl.set_setup_done(True)
        with pytest.raises(RequestNotSupported) as err:
            ctl.set_setup_done(False)
        assert err.value.result == -120 and err.value.request == "SET_DEVICE_SETUP_DONE"


def test_listening_mode_over_usb_and_back(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=9)
    install(twin)  # factory-test firmware: MANUAL, leaving listening mode does not connect
    with open_control(twin.device_id) as ctl:
        assert ctl.is_listening() is False
        ctl.start_listening()
        assert ctl.is_listening() is True and twin.state.run_state == "listening"
        ctl.stop_listening()
        assert ctl.is_listening() is False
    assert (twin.state.run_state, twin.state.running_app) == ("running", "factory-test")
    assert "first_connect" not in twin.events.kinds()


def test_invalid_user_part_is_reported_with_its_failed_checks(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=10)
    install(twin)
    sp = parse_module(demo_modules("boron")["system-part1"])
    twin.flash[sp.start + 0x1000] ^= 0xFF  # one flipped byte in system-part1
    with open_control(twin.device_id) as ctl:
        mods = {(m.function, m.index): m for m in ctl.get_module_info()}
    assert not mods[(4, 1)].valid and mods[(4, 1)].failed_checks == 0x02  # integrity
    assert mods[(2, 0)].valid


def test_enter_dfu_reenumerates_as_dfu_found_by_device_id(sim_bench: Bench) -> None:
    other, twin = sim_bench.create(2, seed=7)
    install(other)
    install(twin)
    enter_dfu(twin.device_id, timeout=5)
    assert find_device(twin.device_id, "dfu") is not None
    assert find_device(other.device_id, "normal") is not None  # the neighbour was not touched
    assert twin.events.read()[-1]["cause"] == "usb-reset"


def test_reset_drops_the_old_handle(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=8)
    install(twin)
    with open_control(twin.device_id) as ctl:
        ctl.reset()
        with pytest.raises(DeviceGone):
            ctl.get_device_id()
    with open_control(twin.device_id) as ctl:  # found again by device ID after re-enumeration
        assert ctl.get_device_id() == twin.device_id
