"""The twin's DfuSe memory strings, read by its own parser, and cross-checked with the station's."""

from __future__ import annotations

import pytest

from station.domain import PLATFORMS
from station.hw.dfu_layout import parse_layout
from station.sim.dfu_memory import AltMemory
from station.sim.usb_descriptors import alt_strings


def test_internal_flash_string_gives_devices_sectors() -> None:
    mem = AltMemory("@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg,4*004Kg,4*004Kg,8*004Ka")
    assert mem.name == "Internal Flash" and (mem.start, mem.end) == (0, 256 * 4096)
    mbr = mem.sector(0x0FFF)
    assert mbr is not None and (mbr.start, mbr.size, mbr.readable, mbr.erasable, mbr.writable) == (
        0,
        4096,
        True,
        False,
        False,
    )
    app = mem.sector(0x28010)
    assert app is not None and app.start == 0x28000 and app.erasable and app.writable
    boot = mem.sector(0xF8000)
    assert boot is not None and not boot.writable
    assert mem.sector(0x100000) is None


def test_span_covers_every_touched_sector_and_refuses_outside() -> None:
    mem = AltMemory("@DCT Flash   /0x00000000/1*016Ke")
    (dct,) = mem.span(0x10, 0x20)
    assert (dct.start, dct.size, dct.readable, dct.erasable, dct.writable) == (0, 16384, True, False, True)
    with pytest.raises(ValueError, match="outside"):
        mem.span(0x3FF0, 0x20)


def test_several_address_groups_and_units() -> None:
    mem = AltMemory("@Mixed/0x08000000/2*016Kg/0x20000000/4*512 e,1*1Mg")
    assert [s.size for s in mem.span(0x08000000, 0x8000)] == [16384, 16384]
    assert mem.sector(0x20000200) is not None and mem.sector(0x20000800) is not None
    big = mem.sector(0x20000800)
    assert big is not None and big.size == 1 << 20


@pytest.mark.parametrize("text", ["Internal/0/1*4Ka", "@x/0", "@x/0/1*4Kz", "@x/0/4Ka", "@x/0/1*Ka"])
def test_malformed_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        AltMemory(text)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_twin_and_station_read_the_published_strings_alike(platform: str) -> None:
    """Two independent parsers of the same strings: a disagreement is a bug in one of them."""
    for text in alt_strings(PLATFORMS[platform]):
        twin, station = AltMemory(text), parse_layout(text)
        assert (twin.start, twin.end) == (station.start, station.end)
        pos = twin.start
        while pos < twin.end:
            a, b = twin.sector(pos), station.sector_at(pos)
            assert a is not None and b is not None
            assert (a.start, a.size) == (b.start, b.size)
            assert (a.readable, a.erasable, a.writable) == (b.segment.readable, b.segment.erasable, b.segment.writable)
            pos = a.start + a.size
