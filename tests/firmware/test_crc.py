"""Module CRCs from on-target block CRCs (what the ``versions`` check uses over SWD instead of a read-back)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

import pytest

from station.firmware.crc import aligned_blocks, crc32_combine, region_crc
from station.firmware.gen3 import read_flash_modules

from .conftest import flash_with

ALL = ("bootloader", "softdevice", "system-part1", "user-product")


class Target:
    """A flash image behind a probe: counts the bytes read, and checksums blocks as pyocd's analyzer does."""

    def __init__(self, flash: bytes | bytearray) -> None:
        self.flash = flash
        self.bytes_read = 0
        self.blocks = 0

    def read(self, address: int, size: int) -> bytes:
        self.bytes_read += size
        return bytes(self.flash[address : address + size])

    def block_crcs(self, blocks: Sequence[tuple[int, int]]) -> list[int]:
        out = []
        for addr, size in blocks:
            # pyocd's Flash.compute_crcs asserts both of these
            assert size & (size - 1) == 0 and addr % size == 0, (addr, size)
            out.append(zlib.crc32(self.flash[addr : addr + size]))
        self.blocks += len(blocks)
        return out

    def crc_of(self, address: int, size: int) -> int:
        return region_crc(address, size, read=self.read, block_crcs=self.block_crcs)


def test_crc32_combine_matches_zlib() -> None:
    rng = random.Random(5)
    for _ in range(50):
        a, b = rng.randbytes(rng.randrange(0, 3000)), rng.randbytes(rng.randrange(0, 70000))
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_region_crc_of_any_range_equals_the_crc_of_its_bytes() -> None:
    rng = random.Random(6)
    target = Target(rng.randbytes(0x100000))
    for _ in range(200):
        start = rng.randrange(0, 0x100000)
        size = rng.randrange(0, 0x100000 - start + 1)
        assert target.crc_of(start, size) == zlib.crc32(target.flash[start : start + size]), (start, size)


def test_only_the_unaligned_ends_are_read() -> None:
    head, blocks, tail = aligned_blocks(0x28000 + 0x10, 0xB4000 - 0x123, 1024)
    assert head == 0x28400 and tail == 0xB4000 - 0x400
    assert blocks[0][0] == head and sum(n for _, n in blocks) == tail - head
    assert all(n >= 1024 for _, n in blocks) and len(blocks) < 40


def test_flash_modules_with_on_target_crcs_read_headers_only(demo: dict[str, bytes]) -> None:
    flash = flash_with(demo, ALL)
    plain, onchip = Target(flash), Target(flash)
    expected = read_flash_modules(plain.read, 13)
    assert read_flash_modules(onchip.read, 13, crc_of=onchip.crc_of) == expected
    assert all(m.valid for m in expected)
    module_bytes = sum(m.end - m.start for m in expected if m.name != "radio-stack")
    assert plain.bytes_read >= module_bytes  # the old way: every module byte crossed the probe
    assert onchip.bytes_read < 16 * 1024 and onchip.blocks > 0


@pytest.mark.parametrize("offset", [0x28000 + 0x30, 0x60000, 0xB4000 + 0x3FF, 0xF4000 + 0x5000])
def test_a_flipped_bit_anywhere_in_a_module_is_still_a_crc_mismatch(demo: dict[str, bytes], offset: int) -> None:
    flash = flash_with(demo, ALL)
    flash[offset] ^= 0x04
    target = Target(flash)
    mods = {m.start: m for m in read_flash_modules(target.read, 13, crc_of=target.crc_of)}
    hit = next(m for m in mods.values() if m.start <= offset < m.end)
    assert not hit.crc_ok and hit.reason == "CRC mismatch"
