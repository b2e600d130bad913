"""Shared firmware fixtures: the demo set is built once per session (it is deterministic)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module


@pytest.fixture(scope="session")
def demo() -> dict[str, bytes]:
    return build_demo_modules("boron")


def flash_with(modules: dict[str, bytes], keys: tuple[str, ...]) -> bytearray:
    """A 1 MB erased nRF52840 flash with the given demo modules written as a flasher would."""
    flash = bytearray(b"\xff" * 0x100000)
    for key in keys:
        data = modules[key]
        img = module_flash_image(data, parse_module(data))
        flash[img.address : img.end] = img.data
    return flash


def reader(flash: bytearray) -> Callable[[int, int], bytes]:
    def read(address: int, size: int) -> bytes:
        assert 0 <= address and address + size <= len(flash), "read outside flash"
        return bytes(flash[address : address + size])

    return read
