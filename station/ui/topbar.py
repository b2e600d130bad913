"""The top bar: what the station is doing and who is at it, in one line readable across the room.

Profile, lot, operator (badge scan or PIN), station mode (line: SWD fixture slots / bench: USB
hot-plug), cloud status with the queued count, and the shift counter (passed / failed since the
window opened or the shift was reset). Each item is a label with a bold value; the operator item
is a button (log in / out).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from station.ui import theme


class _Item(QWidget):
    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(caption.upper())
        self.value = QLabel("—")
        self.value.setTextFormat(Qt.TextFormat.PlainText)
        self.value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.caption)
        lay.addWidget(self.value)
        self.setAccessibleName(caption)

    def set(self, text: str, tooltip: str = "") -> None:
        self.value.setText(text)
        self.value.setToolTip(tooltip or text)
        self.setAccessibleDescription(text)
        bar = self.parentWidget()
        if isinstance(bar, TopBar):
            bar.refit()

    def natural_width(self, px: int) -> int:
        """Width of the value (or caption, if wider) at value size ``px``."""
        val = QFontMetrics(theme.sans(px, bold=True)).horizontalAdvance(self.value.text())
        return max(val, QFontMetrics(self.caption.font()).horizontalAdvance(self.caption.text())) + 2


class TopBar(QFrame):
    loginRequested = Signal()
    logoutRequested = Signal()

    def __init__(self, scale: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("topBar")
        self.setStyleSheet("#topBar { background: #FFFFFF; border-bottom: 2px solid #9A9A9A; }")
        self.profile = _Item("Profile")
        self.lot = _Item("Lot")
        self.mode = _Item("Station")
        self.cloud = _Item("Cloud")
        self.shift = _Item("Shift")
        self.operator_caption = QLabel("OPERATOR")
        self.operator_button = QPushButton("Log in")
        self.operator_button.setAccessibleName("operator: log in or out")
        self.operator_button.clicked.connect(self._operator_clicked)
        self.logged_in = False
        op = QVBoxLayout()
        op.setSpacing(0)
        op.addWidget(self.operator_caption)
        op.addWidget(self.operator_button)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(10, 4, 10, 4)
        self.row.setSpacing(18)
        self.items = (self.profile, self.lot, self.mode, self.cloud, self.shift)
        for item in self.items:
            self.row.addWidget(item, 1)
        self.row.addLayout(op, 0)
        self.value_px = theme.px(16, scale)
        self.fit(scale)

    def refit(self) -> None:
        """Give each item the width its value needs, and shrink the values' type (never below
        12 px) only when together they do not fit: a lot name is not cut to "demo-boron-2026…"."""
        room = self.width() - 20 - self.row.spacing() * len(self.items) - self.operator_button.sizeHint().width()
        px = self.value_px
        while px > 12 and sum(i.natural_width(px) for i in self.items) > room:
            px -= 1
        font = theme.sans(px, bold=True)
        for i, item in enumerate(self.items):
            item.value.setFont(font)
            w = item.natural_width(px)
            item.setMinimumWidth(w)
            self.row.setStretch(i, w)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.refit()

    def fit(self, scale: float) -> None:
        self.value_px = theme.px(16, scale)
        cap = theme.sans(theme.px(11, scale), bold=True)
        val = theme.sans(self.value_px, bold=True)
        for item in (self.profile, self.lot, self.mode, self.cloud, self.shift):
            item.caption.setFont(cap)
            item.caption.setStyleSheet(f"color: {theme.MUTED};")
            item.value.setFont(val)
        self.operator_caption.setFont(cap)
        self.operator_caption.setStyleSheet(f"color: {theme.MUTED};")
        self.operator_button.setFont(val)
        self.refit()

    def _operator_clicked(self) -> None:
        (self.logoutRequested if self.logged_in else self.loginRequested).emit()

    # ------------------------------------------------------------------ values
    def set_operator(self, name: str | None, role: str | None) -> None:
        self.logged_in = name is not None
        self.operator_button.setText(f"{name} · {role}" if name else "Log in")
        self.refit()
        self.operator_button.setToolTip("log out" if name else "log in with your badge or PIN")

    def set_cloud(self, online: bool | None, queued: int, attention: int = 0) -> None:
        state = "online" if online else ("offline" if online is False else "not set up")
        text = f"{state} · {queued} queued"
        if attention:
            text += f" · {attention} need attention"
        self.cloud.set(text)

    def set_shift(self, passed: int, failed: int, errors: int = 0) -> None:
        text = f"{passed} passed / {failed} failed"
        if errors:
            text += f" / {errors} error" + ("" if errors == 1 else "s")
        self.shift.set(text, "this shift (since the window opened)")
