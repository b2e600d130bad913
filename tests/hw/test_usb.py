"""Listing and control requests through real pyusb against twins."""

from __future__ import annotations

import pytest

from station.domain import PARTICLE_VID
from station.errors import DeviceGone
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
        assert ctl.get_system_version() == "6.2.0"
        mods = {(m.function, m.index): m for m in ctl.get_module_info()}
        assert mods[(4, 1)].version == 6200 and mods[(4, 1)].valid
        assert (5, 2) in mods and (2, 0) in mods  # the 256 KB user part is index 2
        assert ctl.is_setup_done() is False
        ctl.set_setup_done(True)
        assert ctl.is_setup_done() is True
    assert twin.state.setup_done


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
