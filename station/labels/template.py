"""A label template as a profile describes it, and the geometry checks that need no renderer.

A profile carries its label template, so loading a profile builds one of these and checks it
fits (a scannable QR code on the stock). That check must not need Pillow or the QR encoder:
profiles are loaded by every front end and by headless tools that never print, so the QR size
of the longest payload is kept here as a number (``WORST_CASE_QR_MODULES``) that a test
compares with what :mod:`station.labels.qr` really encodes.
"""

from __future__ import annotations

from dataclasses import dataclass

LABEL_FORMATS = ("png", "pdf", "zpl")

MM_PER_INCH = 25.4
MARGIN_MM = 1.5
#: below this many pixels per QR module, thermal printers smear modules together
MIN_MODULE_PX = 3
#: longest payload a label must hold: 24-char ID, separator, 15-char serial (room to spare)
WORST_CASE_PAYLOAD = "e00fce68" + "0" * 16 + ";" + "P" * 20
#: modules per side (quiet zone included) of ``qr_matrix(WORST_CASE_PAYLOAD)``: version 3, ECC M
WORST_CASE_QR_MODULES = 33


@dataclass(frozen=True)
class LabelTemplate:
    width_mm: float
    height_mm: float
    dpi: int
    lines: tuple[str, ...]
    formats: tuple[str, ...]  # png|pdf|zpl


def mm_to_px(mm: float, dpi: int) -> int:
    return round(mm / MM_PER_INCH * dpi)


def label_size_px(template: LabelTemplate) -> tuple[int, int]:
    return mm_to_px(template.width_mm, template.dpi), mm_to_px(template.height_mm, template.dpi)


def module_px(template: LabelTemplate, modules: int) -> int:
    """Pixels per QR module when a code of ``modules`` per side fills the label height."""
    _, h = label_size_px(template)
    side = h - 2 * mm_to_px(MARGIN_MM, template.dpi)
    return max(0, side // modules)


def check_template(template: LabelTemplate) -> str | None:
    """Why the template cannot hold a scannable QR code, or ``None`` when it can."""
    px = module_px(template, WORST_CASE_QR_MODULES)
    if px < MIN_MODULE_PX:
        return (
            f"{template.height_mm:g} mm at {template.dpi} dpi leaves {px} dots per QR module; scanners need "
            f"at least {MIN_MODULE_PX}: make the label taller or raise the dpi"
        )
    return None
