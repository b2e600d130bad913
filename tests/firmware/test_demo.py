"""The generated demo set: deterministic, format-valid, at the real nRF52840 addresses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from station.domain import ModuleFlags, ModuleFunction
from station.errors import FirmwareError
from station.firmware.appdesc import read_app_descriptor
from station.firmware.cache import FirmwareCache
from station.firmware.demo import DEMO_KEYS, build_demo_modules, install_demo_firmware
from station.firmware.module import parse_module

# Pinned so that an accidental change to the generator (which would orphan every profile that
# names these files by hash) fails loudly.
BORON_SYSTEM_PART1_SHA256 = "0f39c28b432fdbb5b691838ed473bb350af3b86ee4ea552187a8709dcac11a0c"


def test_same_bytes_every_run(demo: dict[str, bytes]) -> None:
    again = build_demo_modules("boron")
    assert again == demo
    assert hashlib.sha256(demo["system-part1"]).hexdigest() == BORON_SYSTEM_PART1_SHA256
    other = build_demo_modules("argon")
    assert all(other[k] != demo[k] for k in DEMO_KEYS)


def test_layout_versions_and_sizes(demo: dict[str, bytes]) -> None:
    assert tuple(demo) == DEMO_KEYS
    assert 800_000 <= sum(map(len, demo.values())) <= 1_000_000
    info = {k: parse_module(v) for k, v in demo.items()}
    assert all(i.crc_ok and i.platform_id == 13 for i in info.values())
    assert (info["bootloader"].start, info["bootloader"].prefix_offset) == (0xF4000, 0x200)
    assert info["bootloader"].end + 4 <= 0x100000
    sd = info["softdevice"]
    assert (sd.function, sd.start, sd.version, sd.suffix_size) == (ModuleFunction.RADIO_STACK, 0x1000, 202, 36)
    assert sd.flags == ModuleFlags.DROP_MODULE_INFO and sd.end < 0x27000  # the MBR params page follows
    assert [d.to_json() for d in sd.deps] == [[2, 0, 501], [4, 1, 1321]]  # create_module.py GEN3_RADIO_STACK_*
    assert sd.sha256 == hashlib.sha256(demo["softdevice"][24:-40]).hexdigest()  # create_module: sha(binary)
    sp = info["system-part1"]
    assert (sp.start, sp.prefix_offset, sp.version) == (0x28000, 0x200, 6200)
    assert sp.end + 4 <= 0xB4000
    assert [d.to_json() for d in sp.deps] == [[2, 0, 3100], [8, 0, 202]]
    for key in ("user-product", "user-factory-test"):
        u = info[key]
        assert (u.function, u.index, u.start) == (ModuleFunction.USER_PART, 2, 0xB4000) and u.end + 4 <= 0xF4000
        assert u.deps[0].to_json() == [4, 1, 6200]
    assert demo["user-product"] != demo["user-factory-test"]


def test_bodies_are_not_erased_flash(demo: dict[str, bytes]) -> None:
    for data in demo.values():
        assert data.count(0xFF) < len(data) // 64


def test_user_parts_describe_their_app(demo: dict[str, bytes]) -> None:
    product = read_app_descriptor(demo["user-product"])
    factory = read_app_descriptor(demo["user-factory-test"])
    assert product is not None and (product.app, product.system_mode) == ("product", "AUTOMATIC")
    assert factory is not None and (factory.app, factory.system_mode) == ("factory-test", "MANUAL")
    assert read_app_descriptor(demo["system-part1"]) is None


def test_platform_specific_dependencies() -> None:
    argon = parse_module(build_demo_modules("argon")["system-part1"])
    assert [d.to_json() for d in argon.deps] == [[8, 0, 202], [2, 0, 3100]]
    tracker = parse_module(build_demo_modules("tracker")["system-part1"])
    assert [d.to_json() for d in tracker.deps] == [[2, 0, 3100], [4, 1, 3001]]


def test_unknown_platform_is_an_input_error() -> None:
    with pytest.raises(FirmwareError, match="unknown platform"):
        build_demo_modules("photon9")


def test_install_puts_all_five_in_the_cache(tmp_path: Path) -> None:
    cache = FirmwareCache(tmp_path)
    entries = install_demo_firmware(cache, "boron")
    assert set(entries) == {*DEMO_KEYS, "base-image"} and entries["base-image"].kind == "hex"
    assert {e.sha256 for e in cache.entries()} == {e.sha256 for e in entries.values()}
    assert entries["system-part1"].sha256 == BORON_SYSTEM_PART1_SHA256
