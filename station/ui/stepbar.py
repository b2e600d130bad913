"""A progress bar that repaints with the event loop, not at once.

``QProgressBar.setValue`` calls ``repaint()`` whenever the value moves a visible amount, and a
synchronous repaint makes Qt paint every dirty region of the window there and then. With eight
slots flashing, each step event painted all cards inside the event handler (the stalls of
bench/gui_latency.py had ``paintEvent`` under ``refresh``). This bar only ``update()``s, so all
changes of one turn of the loop are painted together, and it offers the few calls the cards use
(``setRange``/``setValue``/``value``/``maximum``; a 0..0 range means "busy", as in Qt).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class StepBar(QWidget):
    def __init__(self, chunk: str = "#0072B2", border: str = "#555555", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._min, self._max, self._value = 0, 1000, 0
        self.phase = 0.0  # busy mode: where the moving block is (0..1), set by the board's animation
        self.chunk, self.border = QColor(chunk), QColor(border)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)

    def sizeHint(self) -> QSize:
        return QSize(120, 16)

    def minimumSizeHint(self) -> QSize:
        return QSize(24, 6)

    # ------------------------------------------------------------------ QProgressBar's subset
    def setRange(self, lo: int, hi: int) -> None:
        if (lo, hi) != (self._min, self._max):
            self._min, self._max = lo, hi
            self._value = max(lo, min(hi, self._value))
            self.update()

    def setValue(self, value: int) -> None:
        value = max(self._min, min(self._max, value))
        if value != self._value:
            self._value = value
            self.setAccessibleDescription(f"{self.fraction() * 100:.0f} %")
            self.update()

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._max

    def minimum(self) -> int:
        return self._min

    def busy(self) -> bool:
        return self._max <= self._min

    def fraction(self) -> float:
        return 0.0 if self.busy() else (self._value - self._min) / (self._max - self._min)

    def animate(self, phase: float) -> None:
        if self.busy() and self.isVisible():
            self.phase = phase
            self.update()

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        radius = min(4.0, r.height() / 3)
        p.setPen(QPen(self.border, 2))
        p.setBrush(QColor("#FFFFFF"))
        p.drawRoundedRect(r, radius, radius)
        pad = 2.0 if r.height() >= 12 else 1.0  # a thin bar (the prompt's countdown) keeps its fill visible
        inner = r.adjusted(pad, pad, -pad, -pad)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.chunk)
        if self.busy():
            w = inner.width() * 0.3  # a block sweeping to and fro
            x = inner.left() + (inner.width() - w) * abs(1 - 2 * (self.phase % 1.0))
            p.drawRect(QRectF(x, inner.top(), w, inner.height()))
        elif self.fraction() > 0:
            p.drawRect(QRectF(inner.left(), inner.top(), inner.width() * self.fraction(), inner.height()))
        p.end()
