"""Rendered labels: size from mm and dpi, QR decodes back to the device, PDF page = label size, ZPL."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from station.errors import ProfileError
from station.labels.data import LabelData
from station.labels.payload import parse_label_payload
from station.labels.qr import qr_matrix
from station.labels.render import render_image, render_label, write_labels
from station.labels.template import WORST_CASE_PAYLOAD, WORST_CASE_QR_MODULES, LabelTemplate

DID = "e00fce68a1b2c3d4e5f60718"
SERIAL = "PBOABCDEFGH2345"
INFO = LabelData(DID, SERIAL, product="Demo Boron", platform="boron", lot="L1")


def template(
    w: float = 50, h: float = 25, dpi: int = 300, lines: tuple[str, ...] = ("{product}", "{device_id}")
) -> LabelTemplate:
    return LabelTemplate(w, h, dpi, lines, ("png", "pdf", "zpl"))


def decode(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img)]


@pytest.mark.parametrize(
    ("w", "h", "dpi", "px"),
    [
        (50, 25, 300, (591, 295)),
        (62, 29, 300, (732, 343)),
        (38, 19, 203, (304, 152)),
        (57, 32, 600, (1346, 756)),
    ],
)
def test_png_has_the_label_size_and_its_qr_decodes(w: float, h: float, dpi: int, px: tuple[int, int]) -> None:
    png = render_label(INFO, template(w, h, dpi), "png")
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == px
    assert round(img.info["dpi"][0]) == dpi
    (text,) = decode(img)
    assert parse_label_payload(text) == (DID, SERIAL)


def test_label_without_serial_encodes_the_bare_id() -> None:
    img = Image.open(io.BytesIO(render_label(LabelData(DID), template(), "png")))
    assert decode(img) == [DID]


def test_text_lines_are_drawn_right_of_the_qr() -> None:
    with_text = render_image(INFO, template(lines=("{product}", "SN {serial_number}")))
    without = render_image(INFO, template(lines=()))
    qr_edge = with_text.height  # the QR is a square of about the label height on the left
    right_with = with_text.crop((qr_edge, 0, with_text.width, with_text.height))
    right_without = without.crop((qr_edge, 0, without.width, without.height))
    assert right_without.getextrema() == (255, 255)  # nothing there
    assert right_with.getextrema()[0] < 128  # dark text pixels


def test_pdf_page_is_exactly_the_label_size() -> None:
    pdf = render_label(INFO, template(62, 29, 203), "pdf")
    assert pdf.startswith(b"%PDF")
    (box,) = re.findall(rb"/MediaBox \[ *([\d. ]+)\]", pdf)
    x0, y0, x1, y1 = (float(v) for v in box.split())
    assert (x0, y0) == (0, 0)
    assert x1 == pytest.approx(62 / 25.4 * 72, abs=0.01) and y1 == pytest.approx(29 / 25.4 * 72, abs=0.01)
    assert b"CCITTFaxDecode" in pdf  # bilevel and lossless, not a JPEG'd QR


def test_zpl_structure_and_payload() -> None:
    zpl = render_label(INFO, template(50, 25, 203, ("{product}", "Lot {lot}", "^odd~_name")), "zpl").decode()
    lines = zpl.strip().splitlines()
    assert lines[0] == "^XA" and lines[-1] == "^XZ"
    assert "^PW400" in zpl and "^LL200" in zpl  # 50 x 25 mm at 203 dpi = 8 dots/mm
    (qr,) = [ln for ln in lines if "^BQN" in ln]
    m = re.fullmatch(r"\^FO(\d+),(\d+)\^BQN,2,(\d+)\^FDMA,(.*)\^FS", qr)
    assert m is not None
    assert parse_label_payload(m.group(4)) == (DID, SERIAL)
    assert 1 <= int(m.group(3)) <= 10
    fields = re.findall(r"\^FH\^FD(.*?)\^FS", zpl)
    assert fields == ["Demo Boron", "Lot L1", "_5Eodd_7E_5Fname"]  # ^ ~ _ escaped, cannot inject commands


def test_template_too_small_for_a_qr_is_refused() -> None:
    with pytest.raises(ProfileError, match="dots per QR module"):
        render_label(INFO, template(20, 6, 203), "png")


def test_write_labels_one_file_per_device_and_format(tmp_path: Path) -> None:
    other = LabelData("e00fce68000000000000000a")
    paths = write_labels([INFO, other], template(), tmp_path / "out", ["png", "zpl"])
    assert sorted(p.name for p in paths) == sorted(
        [f"{DID}.png", f"{DID}.zpl", "e00fce68000000000000000a.png", "e00fce68000000000000000a.zpl"]
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths
    )  # no temp files left
    assert decode(Image.open(paths[0])) == [f"{DID};{SERIAL}"]


def test_write_labels_takes_one_device_and_the_templates_formats(tmp_path: Path) -> None:
    paths = write_labels(INFO, template(), tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".zpl"]


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / f"{DID}.png").mkdir()  # a directory where the label should go: the rename fails
    with pytest.raises(OSError):
        write_labels(INFO, template(), tmp_path, ["png"])
    assert [p.name for p in tmp_path.iterdir()] == [f"{DID}.png"]


def test_the_profile_check_knows_the_encoders_worst_case_qr_size() -> None:
    """The template check runs without the encoder, from a number; it must be the encoder's."""
    assert len(qr_matrix(WORST_CASE_PAYLOAD)) == WORST_CASE_QR_MODULES
