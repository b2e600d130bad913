"""ZPL text is sized to fit its field block, as the PNG/PDF renderer sizes it (issue 15 item 17)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from station.labels.data import LabelData
from station.labels.zpl import render_zpl
from station.profile.load import load_profile

DEMO = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"
#: widest glyph of Zebra font 0 per dot of character width (generous: hex digits are about 0.5)
FONT0_ADVANCE = 0.6
FIELD = re.compile(r"\^FO(\d+),(\d+)\^A0N,(\d+),(\d+)\^FB(\d+),1,0,L,0\^FH\^FD(.*)\^FS")


def fields(zpl: str) -> list[tuple[int, int, int, int, int, str]]:
    return [(int(x), int(y), int(h), int(w), int(fb), text) for x, y, h, w, fb, text in FIELD.findall(zpl)]


@pytest.mark.parametrize("serial", [None, "P046AB1234XYZAB"])
def test_every_line_fits_its_field_block_and_the_label(serial: str | None) -> None:
    prof = load_profile(DEMO)
    template = prof.label
    zpl = render_zpl(LabelData("e00fce68a1b2c3d4e5f60718", serial_number=serial, product=prof.product), template)
    width = round(template.width_mm / 25.4 * template.dpi)
    height = round(template.height_mm / 25.4 * template.dpi)
    found = fields(zpl)
    assert len(found) == len(template.lines)
    assert any("e00fce68a1b2c3d4e5f60718" in text for *_, text in found)
    for x, y, h, w, fb, text in found:
        assert x + fb <= width, "the field block runs off the label"
        assert len(text) * FONT0_ADVANCE * w <= fb, f"{text!r} at {w} dots per character overflows {fb} dots"
        assert y + h <= height
    assert len({h for _, _, h, _, _, _ in found}) == 1, "one font size for every line, as on the PNG"


def test_short_lines_keep_the_row_height_font() -> None:
    prof = load_profile(DEMO)
    zpl = render_zpl(LabelData("e00fce68a1b2c3d4e5f60718", product="X"), prof.label.__class__(
        **{**prof.label.__dict__, "lines": ("{product}",)}))
    ((_, _, h, _, _, _),) = fields(zpl)
    assert h > 100  # one short line on a 25 mm label at 300 dpi: large, not shrunk for a long line
