"""The twin's USB face as any pyusb program sees it: descriptors, DfuSe state machine, hot-unplug."""

from __future__ import annotations

import errno
import struct

import pytest
import usb.core
import usb.util

from station.sim.bench import Bench
from station.sim.device import Twin
from station.sim.usb_backend import SimUsbBackend

pytestmark = pytest.mark.timeout(60)


def _find(bench: Bench, twin: Twin) -> usb.core.Device:
    dev = usb.core.find(backend=SimUsbBackend(bench), custom_match=lambda d: d.serial_number == twin.device_id)
    assert dev is not None
    return dev


def test_dfu_descriptors_match_device_os(bench: Bench) -> None:
    twin = bench.create_one("t", "tracker", seed=1)
    dev = _find(bench, twin)
    assert (dev.idVendor, dev.idProduct) == (0x2B04, 0xD01A)
    assert usb.util.get_string(dev, dev.iSerialNumber) == twin.device_id
    assert dev.manufacturer == "Particle"
    alts = list(dev[0])
    assert [(i.bInterfaceClass, i.bInterfaceSubClass, i.bInterfaceProtocol) for i in alts] == [(0xFE, 1, 2)] * 3
    names = [usb.util.get_string(dev, i.iInterface) for i in alts]
    assert names[0].startswith("@Internal Flash   /0x00000000/1*004Ka,47*004Kg")
    assert names[1] == "@DCT Flash   /0x00000000/1*016Ke"
    assert names[2] == "@External Flash   /0x80000000/2048*004Kg"
    length, dtype, attrs, _detach, transfer = struct.unpack_from("<BBBHH", bytes(alts[0].extra_descriptors))
    assert (length, dtype, attrs, transfer) == (9, 0x21, 0x0B, 4096)


def test_normal_mode_has_cdc_pair_and_vendor_interface(bench: Bench, twin: Twin) -> None:
    twin.update_state(run_state="listening")
    dev = _find(bench, twin)
    assert dev.idProduct == 0xC00D
    classes = [i.bInterfaceClass for i in dev[0]]
    assert classes == [0x02, 0x0A, 0xFF]


def test_stopped_cpu_does_not_enumerate(bench: Bench, twin: Twin) -> None:
    for state in ("halted", "reset", "off"):
        twin.update_state(run_state=state)
        assert usb.core.find(backend=SimUsbBackend(bench)) is None


def test_unplug_mid_session_raises_enodev(bench: Bench, twin: Twin) -> None:
    dev = _find(bench, twin)
    assert dev.ctrl_transfer(0xA1, 5, 0, 0, 1)[0] == 2  # GETSTATE: dfuIDLE
    twin.unplug()
    with pytest.raises(usb.core.USBError) as err:
        dev.ctrl_transfer(0xA1, 5, 0, 0, 1)
    assert err.value.errno == errno.ENODEV


def _status(dev: usb.core.Device) -> tuple[int, int]:
    raw = bytes(dev.ctrl_transfer(0xA1, 3, 0, 0, 6))
    return raw[0], raw[4]


def test_dfuse_state_machine_reports_bad_address(bench: Bench, twin: Twin) -> None:
    dev = _find(bench, twin)
    dev.ctrl_transfer(0x21, 1, 0, 0, struct.pack("<BI", 0x21, 0x200000))  # SET_ADDRESS outside flash
    assert _status(dev) == (0x08, 10)  # errADDRESS, dfuERROR
    dev.ctrl_transfer(0x21, 4, 0, 0, b"")  # CLRSTATUS
    assert _status(dev) == (0, 2)
    dev.ctrl_transfer(0x21, 1, 0, 0, struct.pack("<BI", 0x41, 0x0))  # erase the MBR: read-only
    assert _status(dev) == (0x01, 10)  # errTARGET


def test_device_accepts_dct_writes_and_loses_its_key(bench: Bench, twin: Twin) -> None:
    """The device does not protect its DCT: that is why the station must refuse."""
    dev = _find(bench, twin)
    dev.set_interface_altsetting(interface=0, alternate_setting=1)
    dev.ctrl_transfer(0x21, 1, 0, 0, struct.pack("<BI", 0x21, 3106))  # alt_device_private_key
    _status(dev), _status(dev)
    dev.ctrl_transfer(0x21, 1, 2, 0, b"\x00" * 192)
    _status(dev), _status(dev)
    assert twin.device_key() == b"\x00" * 192
    assert "key_lost" in twin.events.kinds()


def test_leave_resets_into_the_boot_model(bench: Bench, twin: Twin) -> None:
    dev = _find(bench, twin)
    generation = twin.state.generation
    dev.ctrl_transfer(0x21, 1, 0, 0, b"")  # zero-length DNLOAD
    assert _status(dev)[1] == 7  # dfuMANIFEST, then the device resets
    assert twin.state.generation > generation
    boot = twin.events.read()[-1]
    assert boot["kind"] == "boot" and boot["cause"] == "dfu-leave" and boot["run_state"] == "dfu"


def test_dfuse_get_commands_lists_what_device_os_bootloader_supports(bench: Bench, twin: Twin) -> None:
    dev = _find(bench, twin)
    assert bytes(dev.ctrl_transfer(0xA1, 2, 0, 0, 64)) == bytes([0x00, 0x21, 0x41, 0xFA, 0xFB])


@pytest.mark.parametrize(
    ("platform", "name"),
    [("argon", "Argon"), ("boron", "Boron"), ("esomx", "E-SoM-X"), ("bsom", "B-SoM"), ("b5som", "B5-SoM"),
     ("tracker", "Tracker")],
)
def test_product_strings_are_device_os_names(bench: Bench, platform: str, name: str) -> None:
    twin = bench.create_one(platform, platform, seed=3)
    twin.update_state(run_state="dfu")
    assert _find(bench, twin).product == f"{name} DFU Mode"  # bootloader usbd_device.cpp
    twin.update_state(run_state="listening", generation=twin.state.generation + 1)
    assert _find(bench, twin).product == f"{name} CDC Mode"  # hal/src/<platform>/app_usbd_string_config.h
