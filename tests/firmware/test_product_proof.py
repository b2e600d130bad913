"""Issue 10 item 2: before a pass, prove the device will run exactly the product it registers.

Flash contents are set up by hand on a twin and read the way Device OS finds its user part; the
proof must name what is wrong: the factory-test image still in the slot, a part with another hash,
a part in the compat slot that would run instead, what a longer factory-test image left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.domain import GEN3_ADDR_LEGACY_USER_PART, NRF_PAGE_SIZE, FlashImage, ModuleFunction
from station.firmware.boot_check import product_problems
from station.firmware.boot_gate import BLANK_PAGE_CRC, gate_for, is_closed
from station.firmware.build import build_module
from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.sim.bench import Bench, forget_twins
from station.sim.boot import decide
from station.sim.device import Twin

OS_ROLES = ("bootloader", "softdevice", "system-part1")


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path / "bench")
    yield b
    forget_twins(b.path)


def _image(twin: Twin, role: str) -> FlashImage:
    data = build_demo_modules(twin.platform.name)[role]
    return module_flash_image(data, parse_module(data), role)


def _write(twin: Twin, img: FlashImage) -> None:
    twin.flash[img.address : img.end] = img.data


def _device(bench: Bench, seed: int, user: str | None) -> Twin:
    twin = bench.create(1, seed=seed)[0]
    for role in OS_ROLES:
        _write(twin, _image(twin, role))
    if user:
        _write(twin, _image(twin, user))
    return twin


def _read(twin: Twin):  # type: ignore[no-untyped-def]
    return lambda address, size: bytes(twin.flash[address : address + size])


def _problems(twin: Twin, product: FlashImage, test: FlashImage | None) -> list[str]:
    return product_problems(_read(twin), twin.platform.id, product, test)


def test_the_product_in_its_slot_is_proven(bench: Bench) -> None:
    twin = _device(bench, 1, "user-product")
    assert _problems(twin, _image(twin, "user-product"), _image(twin, "user-factory-test")) == []


def test_the_factory_test_image_still_in_the_slot_fails(bench: Bench) -> None:
    twin = _device(bench, 2, "user-factory-test")
    problems = _problems(twin, _image(twin, "user-product"), _image(twin, "user-factory-test"))
    assert problems and "0xB4000-0xBA000" in problems[0] and "the product is 0xB4000-0xC0000" in problems[0]


def test_a_same_sized_part_with_another_hash_fails_and_says_so(bench: Bench) -> None:
    twin = _device(bench, 3, "user-product")
    product = _image(twin, "user-product")
    info = parse_module(product.data)
    other = build_module(
        function=ModuleFunction.USER_PART, index=info.index, version=info.version, platform_id=info.platform_id,
        start=info.start, body=bytes(len(product.data) - 24 - 40 - 4), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)],
        product_id=info.product_id, product_version=info.product_version,
    )
    assert len(other) == len(product.data) and parse_module(other).crc_ok
    _write(twin, FlashImage(product.address, other))
    (problem,) = _problems(twin, product, None)
    assert "SHA-256" in problem and product.label == "user-product"


def test_the_product_as_factory_test_is_named(bench: Bench) -> None:
    # a profile whose product and factory test are the same length: the hash says which one is there
    twin = _device(bench, 4, "user-factory-test")
    test = _image(twin, "user-factory-test")
    as_product = FlashImage(test.address, test.data[:-1] + bytes([test.data[-1] ^ 1]), "product")
    (problem,) = _problems(twin, as_product, test)
    assert "factory-test firmware, not the product" in problem


def test_a_part_in_the_compat_slot_runs_instead_and_fails(bench: Bench) -> None:
    twin = _device(bench, 5, "user-product")
    stale = build_module(
        function=ModuleFunction.USER_PART, index=2, version=6, platform_id=twin.platform.id,
        start=GEN3_ADDR_LEGACY_USER_PART, body=bytes(4000), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)],
        product_id=twin.platform.id, product_version=1,
    )
    _write(twin, FlashImage(GEN3_ADDR_LEGACY_USER_PART, stale))
    problems = _problems(twin, _image(twin, "user-product"), None)
    assert problems and "0xD4000" in problems[0]


def test_what_a_longer_factory_test_image_left_behind_fails(bench: Bench) -> None:
    # swap the roles: a 24 KB "product" written over a 48 KB "factory test" leaves six pages of it
    twin = _device(bench, 6, "user-product")
    short, long_ = _image(twin, "user-factory-test"), _image(twin, "user-product")
    _write(twin, short)
    (problem,) = _problems(twin, short, long_)
    assert "0xBA000-0xC0000 beyond the product are not erased" in problem
    twin.flash[0xBA000:0xC0000] = b"\xff" * 0x6000
    assert _problems(twin, short, long_) == []


def test_a_closed_gate_keeps_the_twin_in_dfu_whatever_the_user_part(bench: Bench) -> None:
    """The twin's boot model, set against Device OS's bootloader rule (is_application_valid at
    0x28000, else the legacy entry at 0x30000): both gate pages erased → DFU, no connection;
    either one intact → Device OS starts (and with an invalid user part, safe mode connects)."""
    twin = bench.create(1, seed=7)[0]
    system = _image(twin, "system-part1")
    for role in OS_ROLES:
        _write(twin, _image(twin, role))
    twin.flash[0xB4000:0xB5000] = b"\x00" * NRF_PAGE_SIZE  # a half-written user part
    gate = gate_for(system, _read(twin))
    assert gate.addresses == [0x28000, 0x30000]
    assert decide(twin).run_state == "safe_mode" and decide(twin).connects
    for page in gate.closed_images:
        _write(twin, page)
    assert all(is_closed(bytes(twin.flash[a : a + NRF_PAGE_SIZE])) for a in gate.addresses)
    assert (decide(twin).run_state, decide(twin).connects) == ("dfu", False)
    _write(twin, gate.open_images[1])  # only the legacy entry back: a pre-6.2 bootloader's way in
    assert decide(twin).run_state == "safe_mode"
    assert BLANK_PAGE_CRC == 0xF154670A
