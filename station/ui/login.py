"""Logging in at the station: a badge scan (or a typed name) and a PIN, by keyboard or by touch.

A line operator wears gloves: the dialog has a keypad with large keys so the PIN needs no
keyboard, and the badge field takes a badge scanner's burst as it comes (it sets the scanner's
``scannerRaw`` property, so the window's label detector leaves those keys alone) and moves on to
the PIN when the scanner sends its Enter.

The check is the registry's (:meth:`station.store.users.UserOps.authenticate`: scrypt, lockout,
an audit row for every try, granted or refused). It runs in a worker, never on the GUI thread
(scrypt costs tens of milliseconds, the registry may be remote). The PIN lives only in the field
and in the one call that checks it: it is cleared after every try and never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.workers import Workers

#: ``(name or badge, pin) -> user record``; raises LoginRefused (or a registry error)
Authenticate = Callable[[str, str], Any]


class LoginDialog(QDialog):
    loggedIn = Signal(object)  # the UserRecord (never the PIN)

    def __init__(self, authenticate: Authenticate, workers: Workers, *, who: str = "", scale: float = 1.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Log in")
        self.setModal(True)
        self.authenticate = authenticate
        self.workers = workers
        self.user: Any = None
        self.busy = False
        big = theme.sans(theme.px(20, scale), bold=True)

        title = QLabel("Scan your badge, or type your name, then enter your PIN")
        title.setWordWrap(True)
        title.setFont(theme.sans(theme.px(17, scale), bold=True))
        self.who = QLineEdit(who)
        self.who.setPlaceholderText("badge or name")
        self.who.setAccessibleName("badge or name")
        self.who.setProperty("scannerRaw", True)
        self.who.setFont(big)
        self.who.returnPressed.connect(self._who_entered)
        self.pin = QLineEdit()
        self.pin.setPlaceholderText("PIN")
        self.pin.setAccessibleName("PIN")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setValidator(QRegularExpressionValidator(QRegularExpression("[0-9]{0,12}"), self.pin))
        self.pin.setFont(big)
        self.pin.returnPressed.connect(self.submit)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setFont(theme.sans(theme.px(15, scale), bold=True))
        self.message.setAccessibleName("login message")

        keypad = QGridLayout()
        keypad.setSpacing(6)
        self.keys: dict[str, QPushButton] = {}
        labels = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "OK"]
        for i, text in enumerate(labels):
            b = QPushButton(text)
            b.setFont(big)
            b.setMinimumSize(int(72 * scale), int(56 * scale))
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keypad never takes the focus from the PIN
            b.setAccessibleName({"⌫": "delete last digit", "OK": "log in"}.get(text, f"digit {text}"))
            b.clicked.connect(self._key_pressed)
            keypad.addWidget(b, i // 3, i % 3)
            self.keys[text] = b
        self.keys["OK"].setObjectName("primary")

        self.login_button = QPushButton("Log in")
        self.login_button.setObjectName("primary")
        self.login_button.setDefault(False)
        self.login_button.setAutoDefault(False)
        self.login_button.clicked.connect(self.submit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.login_button)

        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(self.who)
        lay.addWidget(self.pin)
        lay.addLayout(keypad, 1)
        lay.addWidget(self.message)
        lay.addLayout(buttons)
        self.resize(int(420 * scale), int(560 * scale))
        (self.pin if who else self.who).setFocus()

    # ------------------------------------------------------------------ input
    def _who_entered(self) -> None:
        if self.who.text().strip():
            self.pin.setFocus()

    def _key_pressed(self) -> None:
        b = self.sender()
        text = b.text() if isinstance(b, QPushButton) else ""
        if text == "OK":
            self.submit()
        elif text == "⌫":
            self.pin.backspace()
        elif len(self.pin.text()) < 12:
            self.pin.insert(text)
        if not self.who.text().strip():
            self.who.setFocus()
        else:
            self.pin.setFocus()

    # ------------------------------------------------------------------ checking
    def submit(self) -> None:
        if self.busy:
            return
        who, pin = self.who.text().strip(), self.pin.text()
        self.pin.clear()  # whatever happens, the PIN does not stay on screen
        if not who:
            self.show_message("Scan your badge or type your name first")
            self.who.setFocus()
            return
        if len(pin) < 4:
            self.show_message("A PIN has 4 to 12 digits")
            self.pin.setFocus()
            return
        self.busy = True
        self.login_button.setEnabled(False)
        self.show_message("Checking…", error=False)
        authenticate = self.authenticate
        self.workers.submit(lambda: authenticate(who, pin), self._checked)

    def _checked(self, user: Any, error: BaseException | None) -> None:
        self.busy = False
        self.login_button.setEnabled(True)
        if error is not None:
            from station.errors import LoginRefused

            if isinstance(error, LoginRefused):
                self.show_message(f"Not logged in: {error}")
            else:
                self.show_message(f"Cannot check the login: {error}")
            self.pin.setFocus()
            return
        self.user = user
        self.loggedIn.emit(user)
        self.accept()

    def show_message(self, text: str, *, error: bool = True) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ERROR_TEXT};" if error else "")
