"""The station's proof that a device will boot, against twins whose flash and UICR are set up by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.domain import NRF_UICR
from station.firmware.base_image import demo_mbr
from station.firmware.boot_check import boot_problems
from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.sim.bench import Bench, forget_twins
from station.sim.device import Twin


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path / "bench")
    yield b
    forget_twins(b.path)


def _install(twin: Twin, *roles: str) -> None:
    for role, data in build_demo_modules(twin.platform.name).items():
        if role in roles:
            img = module_flash_image(data, parse_module(data), role)
            twin.flash[img.address : img.end] = img.data


def _reader(twin: Twin):  # type: ignore[no-untyped-def]
    def read(address: int, size: int) -> bytes:
        if address >= NRF_UICR:
            return bytes(twin.uicr[address - NRF_UICR : address - NRF_UICR + size])
        return bytes(twin.flash[address : address + size])

    return read


FULL = ("bootloader", "softdevice", "system-part1", "user-product")


def test_a_stock_device_with_the_full_set_will_boot(bench: Bench) -> None:
    twin = bench.create(1, seed=81)[0]
    _install(twin, *FULL)
    assert boot_problems(_reader(twin), twin.platform.id) == []
    assert boot_problems(_reader(twin), twin.platform.id, expected_mbr=demo_mbr()) == []


def test_a_blank_chip_with_every_module_would_not_boot(bench: Bench) -> None:
    twin = bench.create(1, seed=82, blank=True)[0]
    _install(twin, *FULL)
    (problem,) = boot_problems(_reader(twin), twin.platform.id)
    assert "MBR page" in problem and "erased" in problem


def test_no_bootloader_address(bench: Bench) -> None:
    twin = bench.create(1, seed=83)[0]
    _install(twin, *FULL)
    twin.uicr[0x14:0x18] = b"\xff" * 4
    (problem,) = boot_problems(_reader(twin), twin.platform.id)
    assert "no bootloader address" in problem and "NRFFW[0]" in problem


def test_a_different_mbr_than_the_base_image(bench: Bench) -> None:
    twin = bench.create(1, seed=84)[0]
    _install(twin, *FULL)
    twin.flash[0x800] ^= 0xFF
    (problem,) = boot_problems(_reader(twin), twin.platform.id, expected_mbr=demo_mbr())
    assert "differs from the profile's base image (first at 0x0800)" in problem


def test_bootloader_corrupt_or_missing(bench: Bench) -> None:
    twin = bench.create(1, seed=85)[0]
    _install(twin, *FULL)
    twin.flash[0xF4000 + 0x1000] ^= 0x01
    (problem,) = boot_problems(_reader(twin), twin.platform.id)
    assert "bootloader at 0xF4000 is not valid" in problem and "CRC" in problem
    twin.flash[0xF4000 : 0xF4000 + 0x1000] = b"\xff" * 0x1000
    (problem,) = boot_problems(_reader(twin), twin.platform.id)
    assert "no bootloader module starts at 0xF4000" in problem


def test_missing_user_part_and_unmet_dependencies(bench: Bench) -> None:
    twin = bench.create(1, seed=86)[0]
    _install(twin, "bootloader", "system-part1")
    problems = boot_problems(_reader(twin), twin.platform.id)
    assert "no valid user part" in problems
    assert any(p.startswith("unmet dependency") and "radio" in p.lower() for p in problems)


def test_overlay_reads_the_device_only_where_no_image_covers() -> None:
    from station.domain import FlashImage
    from station.firmware.boot_check import overlay_reader

    asked: list[tuple[int, int]] = []

    def device(address: int, size: int) -> bytes:
        asked.append((address, size))
        return b"\xee" * size

    read = overlay_reader([FlashImage(0x10, b"\x01" * 8), FlashImage(0x20, b"\x02" * 4)], device)
    assert read(0x0C, 0x1C) == b"\xee" * 4 + b"\x01" * 8 + b"\xee" * 8 + b"\x02" * 4 + b"\xee" * 4
    assert asked == [(0x0C, 4), (0x18, 8), (0x24, 4)]
