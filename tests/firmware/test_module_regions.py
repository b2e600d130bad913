"""Issue 10, item 2 (the profile half): every module must sit inside its own region of the MCU's flash.

A product user part built for 0x0 would overwrite the MBR and leave the factory-test firmware in
the user slot; one past the end of flash fails half-way through the write. Both are refused by
the module-set check, which ``profile check``, ``firmware check`` and a run's preparation share,
before anything is flashed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli.main import cli
from station.domain import ModuleFlags, ModuleFunction
from station.errors import FirmwareError
from station.firmware.build import build_module, filler
from station.firmware.cache import FirmwareCache
from station.firmware.demo import build_demo_modules, install_demo_firmware
from station.firmware.module import parse_module
from station.firmware.moduleset import check_module_set, written_span

DEMO_PROFILE = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"
DOS = ("bootloader", "softdevice", "system-part1")


def user_part(start: int, size: int = 10_000) -> bytes:
    return build_module(function=ModuleFunction.USER_PART, index=2, version=6, platform_id=13, start=start,
                        body=filler("u", size), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)],
                        product_id=13, product_version=1)


def module(function: ModuleFunction, index: int, start: int, size: int = 10_000, flags: int = 0) -> bytes:
    return build_module(function=function, index=index, version=1, platform_id=13, start=start,
                        body=filler("m", size), flags=ModuleFlags(flags), product_id=13, product_version=1)


@pytest.fixture(scope="module")
def demo() -> dict[str, bytes]:
    return build_demo_modules("boron")


def _set(demo: dict[str, bytes], *extra: bytes, skip: tuple[str, ...] = ()) -> list:  # type: ignore[type-arg]
    return [parse_module(demo[k]) for k in DOS if k not in skip] + [parse_module(x) for x in extra]


@pytest.mark.parametrize(("start", "size", "what"), [
    (0x0, 10_000, "the MBR"),                            # the case found: a user part placed at 0x0
    (0x800, 10_000, "the MBR"),
    (0x2000, 10_000, "the SoftDevice"),
    (0x80000, 10_000, "system-part1"),
    (0xB0000, 10_000, "system-part1"),                   # starts before the slot
    (0xF0000, 0x8000, "the bootloader"),                 # runs into the bootloader
    (0xFF000, 0x4000, "past the end"),                   # past the end of flash
])
def test_a_user_part_outside_its_slot_is_refused_naming_what_it_would_overwrite(
        demo: dict[str, bytes], start: int, size: int, what: str) -> None:
    with pytest.raises(FirmwareError) as exc:
        check_module_set(_set(demo, user_part(start, size)), 13)
    assert "outside the user-part region 0xB4000-0xF4000" in str(exc.value) and what in str(exc.value)


@pytest.mark.parametrize(("function", "index", "start", "skip"), [
    (ModuleFunction.BOOTLOADER, 0, 0xF0000, "bootloader"),
    (ModuleFunction.BOOTLOADER, 0, 0xFE000, "bootloader"),  # ends past 0x100000
    (ModuleFunction.SYSTEM_PART, 1, 0x20000, "system-part1"),
    (ModuleFunction.SYSTEM_PART, 1, 0xB3000, "system-part1"),  # runs into the user slot
])
def test_device_os_modules_outside_their_regions_are_refused(
        demo: dict[str, bytes], function: ModuleFunction, index: int, start: int, skip: str) -> None:
    with pytest.raises(FirmwareError, match="outside the"):
        check_module_set(_set(demo, module(function, index, start), demo["user-product"], skip=(skip,)), 13)


def test_a_module_with_no_place_on_the_mcu_is_refused(demo: dict[str, bytes]) -> None:
    with pytest.raises(FirmwareError, match="no place in boron's internal flash"):
        check_module_set(_set(demo, module(ModuleFunction.SYSTEM_PART, 2, 0x60000), demo["user-product"]), 13)


def test_the_span_written_drops_the_prefix_of_a_drop_module_info_module() -> None:
    info = parse_module(module(ModuleFunction.RADIO_STACK, 0, 0x1000, size=1000,
                               flags=int(ModuleFlags.DROP_MODULE_INFO)))
    first, end = written_span(info)
    assert first == 0x1000 and end == info.end + 4 - 24


def test_every_demo_module_fits_its_region(demo: dict[str, bytes]) -> None:
    for user in ("user-product", "user-factory-test"):
        check_module_set(_set(demo, demo[user]), 13)


def test_profile_check_refuses_a_product_at_0x0_before_anything_is_flashed(tmp_path: Path) -> None:
    import hashlib

    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    bad = user_part(0x0)
    path = tmp_path / "app-at-0.bin"
    path.write_bytes(bad)
    cache.add(path)
    text = DEMO_PROFILE.read_text()
    good_sha = hashlib.sha256(build_demo_modules("boron")["user-product"]).hexdigest()
    profile = tmp_path / "p.toml"
    profile.write_text(text.replace(good_sha, hashlib.sha256(bad).hexdigest()))
    res = CliRunner().invoke(cli, ["profile", "check", str(profile), "--cache", str(cache.root)])
    assert res.exit_code == 2, res.output
    assert "firmware.product" in res.stderr and "the MBR" in res.stderr and "Traceback" not in res.stderr
