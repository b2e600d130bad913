"""The top bar: what the station is doing and who is at it, in one line readable across the room.

Profile, lot, operator (badge scan or PIN), station mode (line: SWD fixture slots / bench: USB
hot-plug), cloud status with the queued count, and the shift counter (passed / failed since the
window opened or the shift was reset). Each item is a label with a bold value; the operator item
is a button (log in / out).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
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
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 10, 4)
        lay.setSpacing(18)
        for item, stretch in ((self.profile, 2), (self.lot, 4), (self.mode, 3), (self.cloud, 3), (self.shift, 3)):
            lay.addWidget(item, stretch)
        lay.addLayout(op, 3)
        self.fit(scale)

    def fit(self, scale: float) -> None:
        cap = theme.sans(theme.px(11, scale), bold=True)
        val = theme.sans(theme.px(16, scale), bold=True)
        for item in (self.profile, self.lot, self.mode, self.cloud, self.shift):
            item.caption.setFont(cap)
            item.caption.setStyleSheet(f"color: {theme.MUTED};")
            item.value.setFont(val)
        self.operator_caption.setFont(cap)
        self.operator_caption.setStyleSheet(f"color: {theme.MUTED};")
        self.operator_button.setFont(val)

    def _operator_clicked(self) -> None:
        (self.logoutRequested if self.logged_in else self.loginRequested).emit()

    # ------------------------------------------------------------------ values
    def set_operator(self, name: str | None, role: str | None) -> None:
        self.logged_in = name is not None
        self.operator_button.setText(f"{name} · {role}" if name else "Log in")
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
            text += f" / {errors} errors"
        self.shift.set(text, "this shift (since the window opened)")
