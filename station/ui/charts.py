"""Failures by step as a bar chart: which step is eating the yield, at a glance.

Painted directly (a dozen bars) rather than pulling in QtCharts, which is not part of
PySide6-Essentials and would add the whole Addons wheel for one chart. Bars are horizontal so step
names read without rotation, sorted worst first, with the count written at each bar's end (the
value is never the bar's length alone), and the same figures are the widget's accessible
description.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from station.ui import theme


class FailureBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars: list[tuple[str, int]] = []
        self.empty_text = "No failures in this lot"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Failures by step")

    def sizeHint(self) -> QSize:
        return QSize(360, 220)

    def set_data(self, counts: dict[str, int] | list[tuple[str, int]]) -> None:
        items = list(counts.items()) if isinstance(counts, dict) else list(counts)
        self.bars = sorted(((label, n) for label, n in items if n > 0), key=lambda x: (-x[1], x[0]))
        desc = "; ".join(f"{label}: {n}" for label, n in self.bars) or self.empty_text
        self.setAccessibleDescription(desc)
        self.setToolTip(desc)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = theme.sans(max(13, min(20, self.height() // 12)))
        p.setFont(font)
        fm = QFontMetrics(font)
        if not self.bars:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), self.empty_text)
            p.end()
            return
        shown = self.bars[: max(1, self.height() // (fm.height() + 6))]
        label_w = min(self.width() * 0.45, max(fm.horizontalAdvance(lbl) for lbl, _ in shown) + 10)
        count_w = fm.horizontalAdvance(str(max(n for _, n in shown))) + 12
        row_h = min(fm.height() * 1.8, self.height() / len(shown))
        top = max(n for _, n in shown)
        for i, (label, n) in enumerate(shown):
            y = i * row_h
            p.setPen(QColor(theme.INK))
            p.drawText(QRectF(0, y, label_w - 8, row_h),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                       fm.elidedText(label, Qt.TextElideMode.ElideMiddle, int(label_w - 8)))
            avail = self.width() - label_w - count_w
            w = max(2.0, avail * n / top)
            bar = QRectF(label_w, y + row_h * 0.18, w, row_h * 0.64)
            p.setPen(QColor("#000000"))
            p.setBrush(QColor(theme.OKABE_ITO["vermillion"]))
            p.drawRect(bar)
            p.setPen(QColor(theme.INK))
            p.drawText(QRectF(bar.right() + 6, y, count_w, row_h),
                       int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), str(n))
        p.end()
