"""Render station.svg to the PNG sizes of the freedesktop icon theme (hicolor/SIZExSIZE/apps).

    python packaging/render_icons.py station/ui/assets/station.svg OUT_DIR 16 32 48 64 128 256

Run by build.sh with the build venv's PySide6 (QtSvg), so the PNGs are made, never committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(svg: str, out: str, *sizes: str) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(svg)
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    for size in map(int, sizes):
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        target = Path(out) / f"{size}x{size}" / "apps" / "station.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target)):
            raise SystemExit(f"cannot write {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
