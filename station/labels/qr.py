"""The QR code's module matrix, shared by the raster (PNG/PDF) and ZPL renderers.

Error correction M (15 %) survives a scuffed or partly smudged thermal label while keeping the
code small enough for 25 mm stock. The quiet zone is two modules; the label margin adds more.
"""

from __future__ import annotations

import qrcode

QUIET_ZONE_MODULES = 2


def qr_matrix(payload: str) -> list[list[bool]]:
    """Rows of modules (True = dark), quiet zone included."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE_MODULES)
    qr.add_data(payload)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]
