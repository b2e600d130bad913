"""A label previews, and saves as a PDF whose page is the label stock."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from station.labels.data import LabelData
from station.profile.model import LabelTemplate
from station.ui.labelprint import LabelDialog
from station.ui.workers import Workers

TEMPLATE = LabelTemplate(width_mm=50, height_mm=25, dpi=300, lines=("{product}", "{device_id}", "SN {serial_number}"),
                         formats=("png",))


def test_preview_then_pdf_of_the_label_size(qtbot: QtBot, tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    dialog = LabelDialog(LabelData("e00fce68a1b2c3d4e5f60718", "PBO123456789ABC", product="Demo Boron"),
                         TEMPLATE, Workers())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.pdf_button.isEnabled())
    assert dialog.preview.pixmap() is not None and not dialog.preview.pixmap().isNull()
    out = dialog.save_pdf(tmp_path / "label.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    # The page is 50 x 25 mm: 141.7 x 70.9 PostScript points.
    import re

    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)", data)
    assert box is not None
    assert abs(float(box.group(1)) - 50 / 25.4 * 72) < 1 and abs(float(box.group(2)) - 25 / 25.4 * 72) < 1
    # and the preview's QR scans back to the device
    assert dialog.image is not None
    from PIL import Image

    buf = dialog.image.bits().tobytes()
    img = Image.frombuffer("RGBA" if dialog.image.depth() == 32 else "L",
                           (dialog.image.width(), dialog.image.height()), buf, "raw",
                           "BGRA" if dialog.image.depth() == 32 else "L", dialog.image.bytesPerLine(), 1)
    results = zxingcpp.read_barcodes(img.convert("L"))
    assert [r.text for r in results] == ["e00fce68a1b2c3d4e5f60718;PBO123456789ABC"]
