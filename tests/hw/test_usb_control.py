"""The station's control client (station.hw.usb_control / usb_update) against twins, through real pyusb."""

from __future__ import annotations

import pytest

from station.errors import ControlRequestFailed, DeviceGone, DeviceTimeout, RequestNotSupported, UsbBusy
from station.firmware.demo import (
    BOOTLOADER_DEPENDENCY,
    BOOTLOADER_VERSION,
)
from station.firmware.demo_updates import build_bootloader_module, build_ncp_module
from station.firmware.module import parse_module
from station.hw.usb import open_control
from station.hw.usb_update import ExpectedModule, update_module
from station.protocol.usb_control import RequestType
from station.sim.bench import Bench
from station.sim.ncp import ship_ncp
from tests.hw.conftest import install

#: a bootloader newer than the demo Device OS's, and one older than it depends on
NEWER = BOOTLOADER_VERSION + 1
OLDER = BOOTLOADER_DEPENDENCY - 100

pytestmark = pytest.mark.timeout(60)


def _expect(data: bytes, label: str) -> ExpectedModule:
    info = parse_module(data)
    return ExpectedModule(int(info.function), info.index, info.version, info.sha256, label)


def test_busy_device_is_retried_then_reported(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=40)
    install(twin)
    with open_control(twin.device_id) as ctl:
        for _ in range(4):  # four requests left active by "another program": the device's limit
            ctl._dev.ctrl_transfer(0xC0, 1, 2, 73, 64)
        with pytest.raises(UsbBusy, match="busy"):
            ctl.request(RequestType.DEVICE_ID, timeout_s=0.3)
    with open_control(twin.device_id) as ctl:  # opening cancels what earlier sessions left behind
        assert ctl.get_serial_number() == twin.serial_number()


def test_device_os_result_codes_become_station_errors(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=41)
    install(twin)
    with open_control(twin.device_id) as ctl:
        with pytest.raises(RequestNotSupported) as err:
            ctl.request(RequestType.GET_SECURITY_KEY)
        assert err.value.result == -120 and "Not supported" in str(err.value)
        bad = bytearray(build_bootloader_module("boron", NEWER))
        bad[0x4000] ^= 0x01  # a flipped bit: CRC no longer matches
        with pytest.raises(ControlRequestFailed) as err:
            ctl.update_firmware(bytes(bad))
        assert err.value.result == -1330 and "integrity" in str(err.value)
    assert "ota_staged" not in twin.events.kinds()
    assert twin.state.run_state == "running"  # a refused update does not reset the device


def test_slow_request_times_out_and_is_cancelled(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=42)
    install(twin)
    twin.realtime = True  # the OTA-region erase now takes device time in wall time (1.5 MB: ~17 s)
    try:
        with open_control(twin.device_id) as ctl:
            with pytest.raises(DeviceTimeout, match="START_FIRMWARE_UPDATE"):
                ctl.call(
                    RequestType.START_FIRMWARE_UPDATE, _start_request(1500 * 1024), timeout_s=0.3
                )
    finally:
        twin.realtime = False


def _start_request(size: int) -> object:
    from station.protocol import ctrl_messages as pb

    return pb.StartFirmwareUpdateRequest(size=size)


def test_unplug_during_a_request_is_device_gone(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=43)
    install(twin)
    with open_control(twin.device_id) as ctl:
        twin.unplug()
        with pytest.raises(DeviceGone):
            ctl.get_module_info()


def test_bootloader_update_follows_the_reset_and_is_verified(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=44)
    install(twin)
    data = build_bootloader_module("boron", NEWER)
    got = update_module(twin.device_id, data, _expect(data, f"bootloader v{NEWER}"))
    assert (got.version, got.valid, got.sha256) == (NEWER, True, parse_module(data).sha256)
    kinds = twin.events.kinds()
    assert kinds[-3:] == ["ota_staged", "ota_applied", "boot"]  # applied by the bootloader at the next boot
    assert bytes(twin.flash[0xF4000 : 0xF4000 + len(data)]) == data
    assert (twin.state.run_state, twin.state.running_app) == ("running", "factory-test")
    assert "first_connect" not in kinds


def test_argon_ncp_update_goes_to_the_esp32(sim_bench: Bench) -> None:
    twin = sim_bench.create_one("argon", "argon", seed=45)
    ship_ncp(twin, build_ncp_module("argon", 5))
    install(twin)
    with open_control(twin.device_id) as ctl:
        assert {(m.function, m.version) for m in ctl.get_module_info()} >= {(7, 5)}
    data = build_ncp_module("argon", 7)
    got = update_module(twin.device_id, data, _expect(data, "ncp v7"))
    assert (got.function, got.version, got.valid) == (7, 7, True)
    assert (twin.path / "ncp.bin").read_bytes() == data
    assert [e for e in twin.events.read() if e["kind"] == "ncp_update"][-1]["to_version"] == 7


def test_ncp_module_on_a_boron_is_refused(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=46)
    install(twin)
    data = build_ncp_module("argon", 7)  # an Argon module: also the wrong platform for a Boron
    with open_control(twin.device_id) as ctl, pytest.raises(ControlRequestFailed) as err:
        ctl.update_firmware(data)
    assert err.value.result in (-1300, -1360)
