"""Buttons for privileged actions: locked ones look locked and say why when pressed.

The core's ``may(role, action)`` decides what a role may do; the window asks it and locks the
button. A locked button stays pressable (a disabled widget takes no touch, and a gloved operator
on a touch screen has no hover for a tooltip): pressing it shows why it is locked and who may do
it, instead of doing the action. The core checks again when the action runs, so a button that
was somehow unlocked still cannot do what the role may not.

The padlock is drawn by Qt (``icons.paint_icon``), not the padlock emoji (U+1F512): a station PC without an
emoji font shows that as an empty box.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QPushButton, QWidget

from station.ui.icons import icon_pixmap

_LOCK_GREY = "#6B6B6B"


class GatedButton(QPushButton):
    activated = Signal()  # pressed while allowed
    refused = Signal(str)  # pressed while locked: why

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.base_text = text
        self.allowed = True
        self.why = ""
        self.clicked.connect(self._pressed)

    def set_allowed(self, allowed: bool, why: str = "") -> None:
        self.allowed = allowed
        self.why = why
        self.setText(self.base_text)
        self.setIcon(QIcon() if allowed else QIcon(icon_pixmap("lock", 64, _LOCK_GREY)))
        self._size_icon()
        self.setToolTip("" if allowed else why)
        self.setProperty("locked", not allowed)
        self.setStyleSheet("" if allowed else f"QPushButton {{ color: {_LOCK_GREY}; border-style: dashed; }}")
        self.setAccessibleDescription("" if allowed else f"locked: {why}")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._size_icon()

    def _size_icon(self) -> None:
        """The padlock as tall as the text: the card and dialogs size button fonts to fit."""
        side = self.fontMetrics().height()
        self.setIconSize(QSize(side, side))

    def _pressed(self) -> None:
        if self.allowed:
            self.activated.emit()
        else:
            self.refused.emit(self.why)


#: what each action is called in an explanation (operators read these, not the action codes)
ACTION_WORDS = {
    "run-lot": "running a lot",
    "answer-prompt": "answering a test's question",
    "print-label": "printing labels",
    "export-manifest": "exporting a manifest",
    "recover-locked-chip": "recovering a locked chip (it erases the whole chip)",
    "override-policy": "overriding a policy",
    "edit-profile": "choosing or editing the product profile",
    "edit-cache": "changing the firmware cache",
    "retry-parked": "retrying parked cloud entries",
    "manage-users": "managing users and PINs",
    "change-settings": "changing the station's settings",
}


def why_locked(role: str | None, action: str) -> str:
    """One sentence an operator understands: what is locked, who may do it, what to do."""
    from station.roles import required_role

    need = required_role(action).value
    what = ACTION_WORDS.get(str(action), str(action))
    if role is None:
        return f"Nobody is logged in: log in with your badge or PIN for {what}."
    article = "an" if need[0] in "aeiou" else "a"
    return (f"You are logged in as {role}: {what} needs {article} {need} or above. "
            f"Ask {article} {need} to log in.")
