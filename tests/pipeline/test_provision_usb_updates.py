"""A USB bench does what DFU cannot: the bootloader and the Argon's NCP go over the control protocol.

Each run follows the device through the resets that apply the updates (by device ID), verifies
the result through GET_MODULE_INFO, and never lets the device reach the cloud.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from station.firmware.cache import FirmwareCache
from station.firmware.demo import (
    BOOTLOADER_DEPENDENCY,
    BOOTLOADER_VERSION,
    install_demo_firmware,
)
from station.firmware.demo_updates import build_bootloader_module, build_ncp_module
from station.firmware.module import parse_module
from station.sim.bench import Bench
from station.sim.ncp import ship_ncp
from station.sim.usb_backend import SimUsbBackend

from .conftest import DEMO_BORON, Line, drop_tests, never_connected, ship_with_bootloader

#: a bootloader newer than the demo Device OS's, and one older than it depends on
NEWER = BOOTLOADER_VERSION + 1
OLDER = BOOTLOADER_DEPENDENCY - 100

pytestmark = pytest.mark.timeout(120)


def _usb_profile(text: str) -> str:
    text = drop_tests(text, "approtect-open")
    return text.replace('transport = "swd"', 'transport = "usb"').replace('action = "halt"', 'action = "dfu"')


def _swap_module(text: str, role: str, sha256: str, version: int) -> str:
    pattern = rf'(role = "{re.escape(role)}"\nsha256 = ")[0-9a-f]+("\nversion = )\d+'
    new, n = re.subn(pattern, rf"\g<1>{sha256}\g<2>{version}", text)
    assert n == 1, role
    return new


@pytest.fixture
def newer_bootloader_profile(tmp_path: Path, cache: FirmwareCache) -> Path:
    data = build_bootloader_module("boron", NEWER)
    entry = cache.add(data, name="boron-bootloader-newer.bin")
    p = tmp_path / "usb-bootloader.toml"
    p.write_text(_swap_module(_usb_profile(DEMO_BORON.read_text()), "bootloader", entry.sha256, NEWER))
    return p


def test_bootloader_is_updated_over_usb_instead_of_sending_the_device_to_swd(
    line: Line, bench: Bench, newer_bootloader_profile: Path
) -> None:
    twins = bench.create(2, seed=51)
    ship_with_bootloader(*twins)  # the module maker's bootloader: the profile wants a newer one
    # slot_workers pinned to thread: what is checked is what the run wrote to the twins, the same from a
    # worker (test_provision_usb.py's blank-devices run keeps the default's workers for USB)
    results = line.usb(twins, newer_bootloader_profile, slot_workers="thread")
    assert [r.outcome for r in results] == ["passed", "passed"], [(r.failing_step, r.reason) for r in results]
    want = build_bootloader_module("boron", NEWER)
    for twin, result in zip(twins, results, strict=True):
        assert bytes(twin.flash[0xF4000 : 0xF4000 + len(want)]) == want
        assert twin.state.run_state == "dfu"
        never_connected(twin)
        steps = [n for n, _, _ in result.steps]
        assert steps.index("start-test-firmware") < steps.index("update-bootloader") < steps.index("module-info")
        assert steps.index("module-info") < steps.index("functional-tests") < steps.index("flash-final")
        kinds = twin.events.kinds()
        assert kinds.count("ota_applied") == 1 and "first_connect" not in kinds


def test_old_bootloader_that_cannot_run_the_new_device_os_is_refused_before_flashing(
    line: Line, bench: Bench, tmp_path: Path, cache: FirmwareCache
) -> None:
    twin = bench.create(1, seed=52)[0]
    old = build_bootloader_module("boron", OLDER)  # below what system-part1 needs
    img = parse_module(old)
    twin.flash[img.start : img.start + len(old)] = old
    before = bytes(twin.flash)
    data = build_bootloader_module("boron", NEWER)
    entry = cache.add(data, name="boron-bootloader-newer.bin")
    profile = tmp_path / "p.toml"
    profile.write_text(_swap_module(_usb_profile(DEMO_BORON.read_text()), "bootloader", entry.sha256, NEWER))
    r = line.usb([twin], profile)[0]
    assert r.outcome == "failed" and r.failing_step == "flash"
    assert f"v{OLDER}" in (r.reason or "") and "safe mode" in (r.reason or "") and "SWD" in (r.reason or "")
    assert bytes(twin.flash) == before  # refused before anything was written
    never_connected(twin)


def test_bootloader_update_without_factory_test_firmware_is_refused(
    line: Line, bench: Bench, tmp_path: Path, cache: FirmwareCache
) -> None:
    twin = bench.create(1, seed=53)[0]
    ship_with_bootloader(twin)
    entry = cache.add(build_bootloader_module("boron", NEWER), name="b.bin")
    text = _swap_module(_usb_profile(DEMO_BORON.read_text()), "bootloader", entry.sha256, NEWER)
    text = re.sub(r"\[firmware\.factory_test\]\nsha256 = \"[0-9a-f]+\"\nversion = \d+\n", "", text)
    text = "".join(b for b in re.split(r"(?m)^(?=\[\[tests\]\])", text) if "[[tests]]" not in b)
    profile = tmp_path / "p.toml"
    profile.write_text(text)
    r = line.usb([twin], profile)[0]
    assert r.outcome == "failed" and "factory-test firmware" in (r.reason or "")
    never_connected(twin)


def test_argon_gets_its_ncp_over_usb(line: Line, bench: Bench, tmp_path: Path, cache: FirmwareCache) -> None:
    entries = install_demo_firmware(cache, "argon")
    ncp = cache.add(build_ncp_module("argon", 7), name="argon-ncp-firmware-0.0.7.bin")
    text = _usb_profile(DEMO_BORON.read_text())
    text = drop_tests(text, "modem", "cellular-ids")
    text = text.replace('platform = "boron"', 'platform = "argon"').replace("import_sims = true", "import_sims = false")
    for role in ("bootloader", "softdevice", "system-part1"):
        text = _swap_module(text, role, entries[role].sha256, entries[role].info.version)  # type: ignore[union-attr]
    text = re.sub(r'(\[firmware\.product\]\nsha256 = ")[0-9a-f]+', rf"\g<1>{entries['user-product'].sha256}", text)
    text = re.sub(r'(\[firmware\.factory_test\]\nsha256 = ")[0-9a-f]+', rf"\g<1>{entries['user-factory-test'].sha256}", text)
    text = text.replace("[firmware.product]", f'[[firmware.modules]]\nrole = "ncp"\nsha256 = "{ncp.sha256}"\nversion = 7\n\n[firmware.product]')
    profile = tmp_path / "argon-usb.toml"
    profile.write_text(text)
    twin = bench.create_one("argon01", "argon", seed=54)
    ship_with_bootloader(twin)
    ship_ncp(twin, build_ncp_module("argon", 5))  # the ESP32 left the module maker with NCP 0.0.5
    r = line.usb([twin], profile)[0]
    assert r.outcome == "passed", (r.failing_step, r.reason)
    assert (twin.path / "ncp.bin").read_bytes() == build_ncp_module("argon", 7)
    assert "update-ncp" in [n for n, _, _ in r.steps]
    assert twin.state.run_state == "dfu"
    never_connected(twin)


def test_station_sends_no_raw_request_device_os_lacks(
    line: Line, bench: Bench, newer_bootloader_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every vendor request of a whole USB run (DFU ↔ normal, updates, tests) is one Device OS defines."""
    seen: list[tuple[int, int, int]] = []
    original = SimUsbBackend.ctrl_transfer

    def spy(self, handle, bm, request, value, index, data, timeout):  # type: ignore[no-untyped-def]
        if (bm >> 5) & 3 == 2:  # vendor
            seen.append((bm, request, index))
        return original(self, handle, bm, request, value, index, data, timeout)

    monkeypatch.setattr(SimUsbBackend, "ctrl_transfer", spy)
    twin = bench.create(1, seed=55)[0]
    ship_with_bootloader(twin)
    # slot_workers pinned to thread: the spy replaces a method of the twin's class in this process, which a
    # worker process (a fresh interpreter) would not see.
    assert line.usb([twin], newer_bootloader_profile, slot_workers="thread")[0].outcome == "passed"
    raw = {(bm, index) for bm, request, index in seen if request == 0x50}
    assert raw <= {(0xC0, 20), (0xC0, 30), (0x40, 40), (0x40, 302)}, raw
    assert {request for _bm, request, _i in seen} <= {0x50, 1, 2, 3, 4, 5}
    service_types = {index for bm, request, index in seen if request == 1}
    assert 211 not in service_types and 210 not in service_types  # never asks for a key
    assert {250, 251, 253, 90} <= service_types  # the update really went over the service protocol
