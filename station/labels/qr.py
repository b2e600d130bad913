"""The QR code's module matrix, shared by the raster (PNG/PDF) and ZPL renderers.

Error correction M (15 %) survives a scuffed or partly smudged thermal label while keeping the
code small enough for 25 mm stock. The quiet zone is two modules; the label margin adds more.
"""

from __future__ import annotations

import functools

import qrcode

QUIET_ZONE_MODULES = 2


@functools.lru_cache(maxsize=64)
def qr_matrix(payload: str) -> tuple[tuple[bool, ...], ...]:
    """Rows of modules (True = dark), quiet zone included.

    Kept for the last few payloads: a device's PNG, PDF and ZPL labels all need its matrix, and
    qrcode's encoder (eight mask patterns tried and scored in Python) was most of a label's CPU.
    """
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE_MODULES)
    qr.add_data(payload)
    qr.make(fit=True)
    return tuple(tuple(row) for row in qr.get_matrix())
