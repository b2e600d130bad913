"""ZPL II for Zebra label printers: the same label as the PNG, in printer dots.

The printer renders the QR code itself (``^BQN``), so the file is small and prints sharp at any
head resolution; the magnification is chosen so the printed code is about as large as in the PNG.
Field data goes through ``^FH`` hex escapes so a ``^`` or ``~`` in a product name cannot end the
field or inject a command.
"""

from __future__ import annotations

from station.labels.data import LabelData, fill_lines
from station.labels.payload import label_payload
from station.labels.qr import qr_matrix
from station.labels.template import LabelTemplate

MARGIN_MM = 1.5
#: how wide a character of Zebra's scalable font 0 (CG Triumvirate Bold Condensed) may get, per dot
#: of the ``^A0`` width parameter: a deliberately generous bound (digits and lower-case hex are
#: about 0.5), so a line sized with it fits its field block instead of running off the label
FONT0_ADVANCE = 0.6
#: the smallest text printed, in dots (about 1 mm at 203 dpi: still legible)
MIN_FONT_DOTS = 8
_ESCAPES = {"_": "_5F", "^": "_5E", "~": "_7E"}


def _dots(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)


def zpl_escape(text: str) -> str:
    """Field text safe inside ``^FH^FD...^FS`` (``_`` is the hex escape introducer)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def qr_magnification(template: LabelTemplate, modules: int) -> int:
    """Dots per module for ``^BQN`` (1..10): the largest that fits the label height."""
    side = _dots(template.height_mm, template.dpi) - 2 * _dots(MARGIN_MM, template.dpi)
    return max(1, min(10, side // max(1, modules)))


def text_dots(lines: list[str], row: int, field_w: int) -> int:
    """One font size for every line (as the PNG renderer does): as tall as 70 % of a row allows,
    and narrow enough that the longest line fits ``field_w`` dots even in its widest glyphs."""
    longest = max((len(line) for line in lines), default=1)
    fits = int(field_w / (FONT0_ADVANCE * max(1, longest)))
    return max(MIN_FONT_DOTS, min(int(row * 0.7), fits))


def render_zpl(info: LabelData, template: LabelTemplate) -> str:
    width = _dots(template.width_mm, template.dpi)
    height = _dots(template.height_mm, template.dpi)
    margin = _dots(MARGIN_MM, template.dpi)
    payload = label_payload(info.device_id, info.serial_number)
    modules = len(qr_matrix(payload))  # includes the quiet zone, like the space ^BQN leaves around it
    mag = qr_magnification(template, modules)
    qr_side = mag * modules
    lines = fill_lines(template.lines, info)
    text_x = margin + qr_side + margin
    row = (height - 2 * margin) // max(1, len(lines))
    field_w = max(1, width - text_x - margin)
    font_h = text_dots(lines, row, field_w)
    out = [
        "^XA",
        "^CI28",  # UTF-8 field data
        f"^PW{width}",
        f"^LL{height}",
        "^LH0,0",
        # ^BQN,2,<mag>: normal orientation, model 2; "MA," = error correction M, automatic input mode
        f"^FO{margin},{margin}^BQN,2,{mag}^FDMA,{payload}^FS",
    ]
    for i, line in enumerate(lines):
        y = margin + i * row + (row - font_h) // 2
        out.append(
            f"^FO{text_x},{y}^A0N,{font_h},{font_h}^FB{field_w},1,0,L,0^FH^FD{zpl_escape(line)}^FS"
        )
    out.append("^XZ")
    return "\n".join(out) + "\n"
