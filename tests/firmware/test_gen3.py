"""Reading modules back from a Gen3 flash image, as the twin and the identity checks do."""

from __future__ import annotations

import struct

from station.domain import ModuleFunction
from station.firmware.build import build_module, filler
from station.firmware.gen3 import FlashModule, dependencies_satisfied, read_flash_modules

from .conftest import flash_with, reader

ALL = ("bootloader", "softdevice", "system-part1", "user-product")


def _by_name(mods: list[FlashModule]) -> dict[str, FlashModule]:
    return {m.name: m for m in mods}


def test_full_demo_flash_reads_back(demo: dict[str, bytes]) -> None:
    mods = read_flash_modules(reader(flash_with(demo, ALL)), 13)
    assert [m.name for m in mods] == ["radio-stack", "system-part1", "user-part", "bootloader"]
    assert all(m.valid and m.crc_ok and m.reason is None for m in mods)
    got = _by_name(mods)
    assert got["radio-stack"].version == 0xCA and got["radio-stack"].start == 0x1000
    assert (got["system-part1"].version, got["system-part1"].start) == (6200, 0x28000)
    assert got["user-part"].start == 0xB4000 and got["user-part"].index == 2
    assert got["bootloader"].version == 3100
    assert dependencies_satisfied(mods) == (True, [])


def test_erased_flash_has_no_modules() -> None:
    assert read_flash_modules(reader(bytearray(b"\xff" * 0x100000)), 13) == []


def test_corrupted_system_part_is_invalid_and_breaks_the_user_dependency(demo: dict[str, bytes]) -> None:
    flash = flash_with(demo, ALL)
    flash[0x40000] ^= 0x01
    mods = _by_name(read_flash_modules(reader(flash), 13))
    sp = mods["system-part1"]
    assert not sp.valid and not sp.crc_ok and sp.reason == "CRC mismatch"
    ok, problems = dependencies_satisfied(list(mods.values()))
    assert not ok
    assert problems == ["user-part v6 needs system-part1 >= v6200 (none present)"]


def test_wrong_platform_flash_is_invalid(demo: dict[str, bytes]) -> None:
    mods = read_flash_modules(reader(flash_with(demo, ALL)), 12)
    sp = _by_name(mods)["system-part1"]
    assert not sp.valid and sp.crc_ok
    assert sp.reason == "built for boron (13), device is argon (12)"


def test_missing_softdevice_is_an_unmet_dependency(demo: dict[str, bytes]) -> None:
    mods = read_flash_modules(reader(flash_with(demo, ("bootloader", "system-part1", "user-product"))), 13)
    assert "radio-stack" not in _by_name(mods)
    ok, problems = dependencies_satisfied(mods)
    assert not ok and problems == ["system-part1 v6200 needs radio-stack >= v202 (none present)"]


def test_old_bootloader_version_is_reported(demo: dict[str, bytes]) -> None:
    old = FlashModule(ModuleFunction.BOOTLOADER, 0, 2100, 13, 0xF4000, 0xFB000, True, (), True)
    mods = [m for m in read_flash_modules(reader(flash_with(demo, ALL)), 13) if m.name != "bootloader"]
    ok, problems = dependencies_satisfied([*mods, old])
    assert not ok
    assert problems == ["system-part1 v6200 needs bootloader >= v3100 (v2100)"]


def test_legacy_user_part_at_0xd4000_is_found(demo: dict[str, bytes]) -> None:
    flash = flash_with(demo, ("bootloader", "softdevice", "system-part1"))
    legacy = build_module(function=ModuleFunction.USER_PART, index=1, version=6, platform_id=13, start=0xD4000,
                          body=filler("legacy", 20_000), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)],
                          product_id=13, product_version=2)
    flash[0xD4000 : 0xD4000 + len(legacy)] = legacy
    user = _by_name(read_flash_modules(reader(flash), 13))["user-part"]
    assert user.valid and user.start == 0xD4000


def test_user_part_spilling_out_of_its_slot_is_invalid(demo: dict[str, bytes]) -> None:
    flash = flash_with(demo, ("softdevice", "system-part1"))
    big = build_module(function=ModuleFunction.USER_PART, index=1, version=6, platform_id=13, start=0xD4000,
                       body=filler("big", 0x20000), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)], product_id=13,
                       product_version=1)
    flash[0xD4000 : 0xD4000 + 0x20000 - 0x100] = big[: 0x20000 - 0x100]  # its tail would be the bootloader
    user = _by_name(read_flash_modules(reader(flash), 13))["user-part"]
    assert not user.valid and "outside its slot" in (user.reason or "")


def test_softdevice_with_broken_info_struct_is_invalid(demo: dict[str, bytes]) -> None:
    flash = flash_with(demo, ALL)
    struct.pack_into("<I", flash, 0x3008, 0x90000)  # SoftDevice "ends" inside system-part1
    sd = _by_name(read_flash_modules(reader(flash), 13))["radio-stack"]
    assert not sd.valid and "inconsistent" in (sd.reason or "")


def test_flash_modules_as_usb_module_status(demo: dict[str, bytes]) -> None:
    flash = flash_with(demo, ALL)
    statuses = [m.to_status() for m in read_flash_modules(reader(flash), 13)]
    assert [(s.function, s.index, s.version, s.valid) for s in statuses] == [
        (8, 0, 202, True), (4, 1, 6200, True), (5, 2, 6, True), (2, 0, 3100, True)
    ]


def test_read_back_costs_about_one_pass_over_the_modules(demo: dict[str, bytes]) -> None:
    """Over SWD every byte read is time on the line: the scan must not re-read or read whole slots."""
    flash = flash_with(demo, ALL)
    total = 0
    plain = reader(flash)

    def counting(address: int, size: int) -> bytes:
        nonlocal total
        total += size
        return plain(address, size)

    assert len(read_flash_modules(counting, 13)) == 4
    crc_checked = sum(len(demo[k]) for k in ("bootloader", "system-part1", "user-product"))
    assert total <= crc_checked + 3 * 0x4000  # module bytes plus chunk rounding and the SoftDevice info
