"""DfuSe programming through real pyusb against twins: bytes land, verify catches, DCT refused."""

from __future__ import annotations

import threading
import time

import pytest

from station.domain import FlashImage
from station.errors import DeviceGone, FirmwareError, VerifyError
from station.hw.dfu import open_dfu
from station.hw.usb import find_device, wait_for_device
from station.sim.bench import Bench
from station.sim.device import Twin
from tests.hw.conftest import demo_images, dfu_set

pytestmark = pytest.mark.timeout(60)


def _with_bootloader(twin: Twin) -> None:
    img = demo_images(twin.platform.name)["bootloader"]
    twin.flash[img.address : img.end] = img.data


def test_program_demo_modules_then_leave_boots_and_reenumerates(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=11)
    _with_bootloader(twin)
    images = dfu_set()
    seen: list[tuple[int, int]] = []
    with open_dfu(twin.device_id) as dfu:
        report = dfu.program(images, progress=lambda d, t: seen.append((d, t)))
        for img in images:
            assert bytes(twin.flash[img.address : img.end]) == img.data
        assert report.verified and report.bytes_written == sum(len(i.data) for i in images)
        assert seen[-1][0] == seen[-1][1] == report.bytes_written
        dfu.leave()
    _dev, info = wait_for_device(twin.device_id, "normal", timeout=5)
    assert info.device_id == twin.device_id
    assert twin.state.run_state == "running" and twin.state.running_app == "factory-test"
    assert any(e["kind"] == "boot" and e["cause"] == "dfu-leave" for e in twin.events.read())


def test_only_touched_sectors_are_erased(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=12)
    twin.flash[0x40000:0x40004] = b"\x12\x34\x56\x78"  # a neighbouring sector's content survives
    with open_dfu(twin.device_id) as dfu:
        dfu.program([FlashImage(0x30000, b"\xa5" * 5000, "blob")])
    assert bytes(twin.flash[0x30000:0x31388]) == b"\xa5" * 5000
    assert bytes(twin.flash[0x40000:0x40004]) == b"\x12\x34\x56\x78"


def test_verify_catches_stuck_word(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=13)
    twin.set_faults(stuck_word=0x30010)
    data = bytes(range(256)) * 16
    with open_dfu(twin.device_id) as dfu, pytest.raises(VerifyError, match="0x30010") as info:
        dfu.program([FlashImage(0x30000, data, "blob")])
    assert info.value.address == 0x30010
    assert info.value.expected == data[0x10 : 0x10 + len(info.value.expected or b"")]
    assert info.value.actual == bytes(twin.flash[0x30010 : 0x30010 + len(info.value.actual or b"")])


def test_dct_writes_are_refused_before_anything_is_written(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=14)
    key = twin.device_key()
    with open_dfu(twin.device_id) as dfu:
        with pytest.raises(FirmwareError, match="DCT"):
            dfu.program([FlashImage(0x0, b"\x00" * 64, "dct")], alt=1)
        with pytest.raises(FirmwareError, match="DCT"):
            dfu.program([FlashImage(0x80000000, b"\x00" * 64, "ext")])
        with pytest.raises(FirmwareError, match="read-only"):
            dfu.program([FlashImage(0xF8000, b"\x00" * 16, "bootloader tail")])
    assert twin.device_key() == key
    assert "key_lost" not in twin.events.kinds()


def test_unplug_mid_transfer_fails_fast_then_retry_after_replug_succeeds(sim_bench: Bench) -> None:
    (twin,) = sim_bench.create(1, seed=15)
    images = dfu_set()
    twin.set_faults(unplug_after_bytes=200_000)
    t0 = time.monotonic()
    with open_dfu(twin.device_id) as dfu, pytest.raises(DeviceGone, match="writing"):
        dfu.program(images)
    assert time.monotonic() - t0 < 5
    assert find_device(twin.device_id) is None
    twin.set_faults(unplug_after_bytes=None)
    sim_bench.plug(twin.name)  # no bootloader in flash: it comes back in DFU mode
    wait_for_device(twin.device_id, "dfu", timeout=5)
    with open_dfu(twin.device_id) as dfu:
        assert dfu.program(images).verified


def test_two_twins_flashed_in_parallel_each_get_their_own_image(sim_bench: Bench) -> None:
    a, b = sim_bench.create(2, seed=16)
    payload = {a.device_id: b"\x11" * 40_000, b.device_id: b"\x22" * 40_000}
    errors: list[BaseException] = []

    def flash(device_id: str) -> None:
        try:
            with open_dfu(device_id) as dfu:
                dfu.program([FlashImage(0x30000, payload[device_id], device_id)])
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=flash, args=(t.device_id,)) for t in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for twin in (a, b):
        assert bytes(twin.flash[0x30000 : 0x30000 + 40_000]) == payload[twin.device_id]


def test_realtime_twin_takes_hardware_time_once(sim_bench: Bench) -> None:
    """bwPollTimeout is honoured and the twin's flash time is not counted twice."""
    (twin,) = sim_bench.create(1, seed=17)
    twin.realtime = True
    before = twin.clock.snapshot()
    t0 = time.perf_counter()
    with open_dfu(twin.device_id) as dfu:
        dfu.program([FlashImage(0x30000, b"\x5a" * 8192, "two sectors")], verify=False)
    wall = time.perf_counter() - t0
    device = (twin.clock.snapshot() - before).device
    assert device >= 2 * (0.085 + 1024 * 41e-6)  # two page erases + 2048 word writes
    assert device * 0.9 <= wall <= device * 1.5 + 0.1
