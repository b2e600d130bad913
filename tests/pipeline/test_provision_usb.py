"""The pipeline over USB only: DfuSe through pyusb, control requests, the CDC serial port."""

from __future__ import annotations

import pytest

from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.sim.bench import Bench
from station.sim.boot import boot_device
from station.store.views import AttemptFilter

from .conftest import Line, drop_tests, never_connected, profile_variant, ship_with_bootloader


@pytest.fixture
def usb_profile(tmp_path):  # type: ignore[no-untyped-def]
    """The demo profile as a USB bench would use it: no SWD memory check."""
    return profile_variant(
        tmp_path, lambda t: drop_tests(t, "approtect-open").replace('transport = "swd"', 'transport = "usb"').replace('action = "halt"', 'action = "dfu"')
    )


def test_blank_devices_in_dfu_are_provisioned_and_left_in_dfu(line: Line, bench: Bench, usb_profile) -> None:  # type: ignore[no-untyped-def]
    twins = bench.create(2, seed=21)
    ship_with_bootloader(*twins)
    assert all(t.state.run_state == "dfu" for t in twins)
    results = line.usb(twins, usb_profile)  # the default runner on purpose: USB slots in worker processes
    assert [r.outcome for r in results] == ["passed", "passed"], [(r.failing_step, r.reason) for r in results]
    data = build_demo_modules("boron")["user-product"]
    product = module_flash_image(data, parse_module(data))
    for twin in twins:
        assert bytes(twin.flash[product.address : product.end]) == product.data
        assert twin.state.run_state == "dfu", "a USB run ends in DFU mode: the product firmware does not run"
        never_connected(twin)
    steps = [n for n, _, _ in results[0].steps]
    assert "enter-dfu" not in steps  # it was already in DFU
    assert steps.index("flash") < steps.index("functional-tests") < steps.index("flash-final")


def test_device_running_test_firmware_is_switched_to_dfu_by_control_request(line: Line, bench: Bench, usb_profile) -> None:  # type: ignore[no-untyped-def]
    twin = bench.create(1, seed=22)[0]
    mods = build_demo_modules("boron")
    for role in ("bootloader", "softdevice", "system-part1", "user-factory-test"):
        img = module_flash_image(mods[role], parse_module(mods[role]))
        twin.flash[img.address : img.end] = img.data
    boot_device(twin, cause="power-on")
    assert twin.state.run_state == "running"
    result = line.usb([twin], usb_profile)[0]
    assert result.outcome == "passed", result.reason
    assert "enter-dfu" in [n for n, _, _ in result.steps]
    never_connected(twin)


def test_unplug_during_dfu_download_fails_that_device_only(line: Line, bench: Bench, usb_profile) -> None:  # type: ignore[no-untyped-def]
    good, flaky = bench.create(2, seed=23)
    ship_with_bootloader(good, flaky)
    flaky.set_faults(unplug_after_bytes=200_000)
    # slot_workers pinned to thread: the unplug is the twin's fault, met the same way by a worker's USB
    # backend; test_blank_devices_in_dfu_are_provisioned_and_left_in_dfu keeps the default's workers for USB
    results = {r.device_id: r for r in line.usb([good, flaky], usb_profile, slot_workers="thread")}
    assert results[good.device_id].outcome == "passed"
    bad = results[flaky.device_id]
    # over USB the unit is the device: unplugged mid-download, it failed (the station is fine)
    assert (bad.outcome, bad.failing_step, bad.fault) == ("failed", "flash", "device-gone")
    (stored,) = line.registry.attempts_page(AttemptFilter(device_id=flaky.device_id)).rows
    assert stored.outcome == "failed" and stored.reason == bad.reason
    assert "disappeared" in (bad.reason or "") or "unplug" in (bad.reason or "")
    never_connected(flaky)
    # Replug and retry: the same device now passes.
    flaky.set_faults(unplug_after_bytes=None)
    bench.plug(flaky.name)
    assert line.usb([flaky], usb_profile)[0].outcome == "passed"
    never_connected(flaky)


def test_blank_chip_is_not_on_usb_at_all(line: Line, bench: Bench, usb_profile) -> None:  # type: ignore[no-untyped-def]
    """A chip fresh from Nordic runs nothing (no MBR, no bootloader): USB cannot even see it."""
    twin = bench.create(1, seed=24, blank=True)[0]
    result = line.usb([twin], usb_profile)[0]
    # from USB a unit that shows no USB face is not there: it fails (SWD would program it)
    assert result.outcome == "failed" and result.failing_step == "identify"
    assert "not connected over USB" in (result.reason or "")
    assert bytes(twin.flash[:0x1000]) == b"\xff" * 0x1000  # nothing was written
    never_connected(twin)


def test_two_usb_devices_with_one_id_are_both_refused(line: Line, bench: Bench, usb_profile) -> None:  # type: ignore[no-untyped-def]
    a = bench.create_one("dup-a", deviceid=(0x0BADF00D, 0x12345678))
    b = bench.create_one("dup-b", deviceid=(0x0BADF00D, 0x12345678))
    ship_with_bootloader(a, b)
    before = (bytes(a.flash), bytes(b.flash))
    result = line.usb([a], usb_profile)[0]  # one slot: the station follows devices by ID
    assert result.outcome == "failed" and result.failing_step == "identify"
    assert "2 USB devices report device ID" in (result.reason or "")
    assert (bytes(a.flash), bytes(b.flash)) == before


def test_wrong_platform_over_usb_fails_identify(line: Line, bench: Bench, usb_profile) -> None:  # type: ignore[no-untyped-def]
    twin = bench.create(1, seed=25)[0]
    ship_with_bootloader(twin)
    twin.set_faults(wrong_platform="argon")
    r = line.usb([twin], usb_profile)[0]
    assert r.outcome == "failed" and r.failing_step == "identify"
    assert "profile is for boron" in (r.reason or "")
