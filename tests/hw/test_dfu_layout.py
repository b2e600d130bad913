"""DfuSe alt-setting strings → memory layouts."""

from __future__ import annotations

import pytest

from station.hw.dfu_layout import parse_layout


def test_internal_flash_layout_of_gen3() -> None:
    layout = parse_layout("@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg,4*004Kg,4*004Kg,8*004Ka")
    assert layout.name == "Internal Flash"
    assert (layout.start, layout.end) == (0, 0x100000)
    mbr = layout.sector_at(0x10)
    assert mbr is not None and mbr.segment.readable and not mbr.segment.writable
    app = layout.sector_at(0xB4123)
    assert app is not None and (app.start, app.size) == (0xB4000, 0x1000) and app.segment.writable
    assert [s.start for s in layout.sectors(0x30FFF, 2)] == [0x30000, 0x31000]
    with pytest.raises(ValueError, match="outside"):
        list(layout.sectors(0xFFFFF, 2))


def test_dct_and_external_flash_layouts() -> None:
    dct = parse_layout("@DCT Flash   /0x00000000/1*016Ke")
    seg = dct.segments[0]
    assert (seg.sector_size, seg.readable, seg.writable, seg.erasable) == (0x4000, True, True, False)
    ext = parse_layout("@External Flash   /0x80000000/2048*004Kg")
    assert (ext.start, ext.end) == (0x80000000, 0x80000000 + 2048 * 4096)


def test_multiple_regions_and_units() -> None:
    layout = parse_layout("@Flash/0x08000000/4*016Kg,1*064Kg/0x1FFF0000/1*512 a")
    assert [(s.start, s.sector_size, s.count) for s in layout.segments] == [
        (0x08000000, 0x4000, 4),
        (0x08010000, 0x10000, 1),
        (0x1FFF0000, 512, 1),
    ]


@pytest.mark.parametrize("bad", ["Internal Flash/0x0/1*4Ka", "@X/0x0", "@X/zz/1*4Ka", "@X/0x0/1*4Kz"])
def test_rejects_malformed_layouts(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_layout(bad)
