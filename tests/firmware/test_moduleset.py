"""Module-set checks: platform, CRC, dependencies, order, overlaps."""

from __future__ import annotations

import pytest

from station.domain import ModuleFunction
from station.errors import FirmwareError
from station.firmware.demo import build_demo_modules
from station.firmware.module import ModuleDependency, ModuleInfo, parse_module
from station.firmware.moduleset import check_module_set


def _infos(demo: dict[str, bytes], *keys: str) -> list[ModuleInfo]:
    return [parse_module(demo[k]) for k in keys]


def test_full_set_comes_back_in_flash_order(demo: dict[str, bytes]) -> None:
    ordered = check_module_set(_infos(demo, "user-product", "system-part1", "bootloader", "softdevice"), 13)
    assert [i.name for i in ordered] == ["bootloader", "radio-stack", "system-part1", "user-part"]


def test_wrong_platform_names_module_and_both_platforms(demo: dict[str, bytes]) -> None:
    argon_sp = parse_module(build_demo_modules("argon")["system-part1"])
    infos = [*_infos(demo, "bootloader", "softdevice", "user-product"), argon_sp]
    with pytest.raises(FirmwareError) as exc:
        check_module_set(infos, 13)
    assert str(exc.value) == "system-part1 v6200 is for argon (12), profile is boron (13)"


def test_missing_dependency_is_named(demo: dict[str, bytes]) -> None:
    with pytest.raises(FirmwareError) as exc:
        check_module_set(_infos(demo, "bootloader", "system-part1", "user-product"), 13)
    assert str(exc.value) == "system-part1 v6200 needs radio-stack >= v202: nothing in the set provides it"


def test_user_part_alone_needs_system_part_unless_installed(demo: dict[str, bytes]) -> None:
    with pytest.raises(FirmwareError, match="user-part v6 needs system-part1 >= v6200"):
        check_module_set(_infos(demo, "user-product"), 13)
    ok = check_module_set(_infos(demo, "user-product"), 13,
                          installed=[ModuleDependency(ModuleFunction.SYSTEM_PART, 1, 6200)])
    assert len(ok) == 1
    with pytest.raises(FirmwareError, match=r"found|v5800"):
        check_module_set(_infos(demo, "user-product"), 13,
                         installed=[ModuleDependency(ModuleFunction.SYSTEM_PART, 1, 5800)])


def test_bad_crc_is_refused(demo: dict[str, bytes]) -> None:
    bad = bytearray(demo["system-part1"])
    bad[100_000] ^= 0xFF
    infos = [*_infos(demo, "bootloader", "softdevice"), parse_module(bytes(bad))]
    with pytest.raises(FirmwareError, match="system-part1 v6200 has a bad CRC"):
        check_module_set(infos, 13)


def test_overlapping_modules_are_refused(demo: dict[str, bytes]) -> None:
    from station.firmware.build import build_module, filler

    user = build_module(function=ModuleFunction.USER_PART, index=1, version=6, platform_id=13, start=0xB0000,
                        body=filler("u", 10_000), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)],
                        product_id=13, product_version=1)
    infos = [*_infos(demo, "bootloader", "softdevice", "system-part1"), parse_module(user)]
    # a user part starting at 0xB0000 reaches back into system-part1: refused as outside its region
    with pytest.raises(FirmwareError, match=r"user-part v6 would be written at 0xB0000.*overwrite system-part1"):
        check_module_set(infos, 13)


def test_two_user_parts_are_a_duplicate(demo: dict[str, bytes]) -> None:
    with pytest.raises(FirmwareError, match="both in the set"):
        check_module_set(_infos(demo, "bootloader", "softdevice", "system-part1", "user-product",
                                "user-factory-test"), 13)


def test_empty_set_is_an_error() -> None:
    with pytest.raises(FirmwareError, match="empty"):
        check_module_set([], 13)
