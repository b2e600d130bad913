"""Users and PINs (admin): list the station's users, add one with a role and badge, reset a PIN, disable.

The decisions are the application layer's (:mod:`station.app.people`: the role check, the first
user is an admin, the last admin stays) and the registry's (the PIN hashed with scrypt, a
``user-added``/``user-changed`` audit row for every change, never the PIN). The dialog lists,
checks that the PIN was typed the same twice, and routes; every read and write runs in a worker.

A PIN lives only in its two fields and in the one job that sends it to the registry: both fields
are cleared as soon as the job is submitted, whatever it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from station.roles import Role
from station.ui import theme
from station.ui.fit import fit
from station.ui.pagedmodel import Column
from station.ui.rowsmodel import RowsModel, RowsTable
from station.ui.workers import Workers

#: each is called on the GUI thread and returns the job a worker runs (acting for whoever is logged in now)
Load = Callable[[], Callable[[], list[Any]]]
Add = Callable[[str, str, str, str | None], Callable[[], Any]]
Change = Callable[..., Callable[[], Any]]


def _state(u: Any) -> str:
    if not u.active:
        return "disabled"
    if u.locked_until is not None:
        # the registry stores naive UTC
        if u.locked_until > datetime.now(UTC).replace(tzinfo=None):
            return f"locked until {u.locked_until:%H:%M} UTC (failed PINs)"
    return "active"


COLUMNS = [
    Column("Name", lambda u: u.name),
    Column("Role", lambda u: u.role.value if isinstance(u.role, Role) else u.role),
    Column("Badge", lambda u: u.badge or "—"),
    Column("State", _state),
    Column("Since", lambda u: f"{u.created_at:%Y-%m-%d}" if u.created_at else ""),
]


def _pin_field(name: str) -> QLineEdit:
    f = QLineEdit()
    f.setEchoMode(QLineEdit.EchoMode.Password)
    f.setValidator(QRegularExpressionValidator(QRegularExpression("[0-9]{0,12}"), f))
    f.setAccessibleName(name)
    f.setPlaceholderText("4 to 12 digits")
    f.setProperty("scannerRaw", True)
    return f


class UsersDialog(QDialog):
    changed = Signal(object)  # the UserRecord added or changed

    def __init__(self, load: Load, add: Add, change: Change, workers: Workers, *, who: str, scale: float = 1.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Users and PINs")
        self.load, self.add_fn, self.change_fn, self.workers = load, add, change, workers
        self.busy = False
        self.adding = False
        self._select: str | None = None
        self._note = ""
        self.model = RowsModel(COLUMNS, locked=lambda u: not u.active, parent=self)
        heading = QLabel(f"Users and PINs · {who}")
        heading.setFont(theme.sans(theme.px(18, scale), bold=True))
        self.table = RowsTable(self.model, name="users")
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.new_button = QPushButton("New user")
        self.new_button.setAutoDefault(False)
        self.new_button.clicked.connect(self.new_user)

        self.form_box = QGroupBox("User")
        self.name = QLineEdit()
        self.name.setAccessibleName("user name")
        self.name.setProperty("scannerRaw", True)
        self.role = QComboBox()
        self.role.addItems([r.value for r in Role])
        self.role.setAccessibleName("role")
        self.badge = QLineEdit()
        self.badge.setAccessibleName("badge")
        self.badge.setPlaceholderText("scan the badge here (optional)")
        self.badge.setProperty("scannerRaw", True)  # a badge scan is typed into the field, not taken as a label
        self.pin = _pin_field("new PIN")
        self.pin_again = _pin_field("new PIN again")
        self.pin_again.returnPressed.connect(self.save)
        self.active = QCheckBox("May log in (untick to disable the user)")
        self.active.setChecked(True)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("primary")
        self.save_button.setAutoDefault(False)
        self.save_button.clicked.connect(self.save)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("users message")
        form = QFormLayout(self.form_box)
        form.addRow("Name", self.name)
        form.addRow("Role", self.role)
        form.addRow("Badge", self.badge)
        form.addRow("New PIN", self.pin)
        form.addRow("New PIN again", self.pin_again)
        form.addRow("", self.active)
        form.addRow("", self.save_button)
        form.addRow(self.message)

        left = QVBoxLayout()
        left.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addStretch(1)
        left.addLayout(row)
        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addWidget(self.form_box, 2)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(heading)
        lay.addLayout(body, 1)
        lay.addWidget(box)
        fit(self, int(1000 * scale), int(560 * scale))
        self.new_user()
        self.reload()

    # ------------------------------------------------------------------ reading
    def reload(self, select: str | None = None, note: str = "") -> None:
        self.busy = True
        self._select, self._note = select, note
        self.workers.submit(self.load(), self._loaded)

    def _loaded(self, users: Any, error: BaseException | None) -> None:
        self.busy = False
        if error is not None:
            self.show_message(f"Cannot read the users: {error}", error=True)
            return
        self.model.set_rows(users)
        self.table.resizeColumnsToContents()
        i = self.model.find(lambda u: u.name == self._select) if self._select else -1
        if i >= 0:
            self.table.selectRow(i)
        elif not self.model.rowCount():
            self.new_user()
            self.show_message("No users yet: the first one must be an admin (while there are none, everyone "
                              "at the station acts as admin).", error=False)
        if self._note:
            self.show_message(self._note, error=False)

    @property
    def current(self) -> Any:
        return self.table.current()

    def select(self, name: str) -> None:
        self.table.select(name)

    def _row_changed(self, *_: Any) -> None:
        u = self.current
        if u is None:
            return
        self.adding = False
        self.form_box.setTitle(f"User {u.name}")
        self.name.setText(u.name)
        self.name.setReadOnly(True)
        self.role.setCurrentText(u.role.value if isinstance(u.role, Role) else str(u.role))
        self.badge.setText(u.badge or "")
        self.active.setChecked(bool(u.active))
        self._clear_pins()
        self.pin.setPlaceholderText("leave empty to keep the PIN")
        self.save_button.setText("Save changes")
        self.show_message("", error=False)

    def new_user(self) -> None:
        self.adding = True
        self.table.clearSelection()
        self.table.setCurrentIndex(QModelIndex())
        self.form_box.setTitle("New user")
        self.name.setReadOnly(False)
        self.name.clear()
        self.role.setCurrentText(Role.OPERATOR.value)
        self.badge.clear()
        self.active.setChecked(True)
        self._clear_pins()
        self.pin.setPlaceholderText("4 to 12 digits")
        self.save_button.setText("Add user")
        self.name.setFocus()

    def _clear_pins(self) -> None:
        self.pin.clear()
        self.pin_again.clear()

    # ------------------------------------------------------------------ saving
    def save(self) -> None:
        if self.busy:
            return
        pin, again = self.pin.text(), self.pin_again.text()
        self._clear_pins()  # the PIN never stays on screen, whatever happens next
        if pin != again:
            self.show_message("The two PINs differ: type the new PIN twice", error=True)
            self.pin.setFocus()
            return
        if self.adding:
            name = self.name.text().strip()
            if not name:
                self.show_message("Type the user's name", error=True)
                self.name.setFocus()
                return
            if not pin:
                self.show_message("A new user needs a PIN (4 to 12 digits), typed twice", error=True)
                self.pin.setFocus()
                return
            job = self.add_fn(name, self.role.currentText(), pin, self.badge.text().strip() or None)
            done = f"{name} added as {self.role.currentText()}"
        else:
            u = self.current
            if u is None:
                return
            name = u.name
            changes: dict[str, Any] = {}
            role = self.role.currentText()
            if role != (u.role.value if isinstance(u.role, Role) else str(u.role)):
                changes["role"] = role
            badge = self.badge.text().strip()
            if badge != (u.badge or ""):
                changes["badge"] = badge  # "" takes the badge away
            if self.active.isChecked() != bool(u.active):
                changes["active"] = self.active.isChecked()
            if pin:
                changes["pin"] = pin
            if not changes:
                self.show_message("Nothing changed", error=False)
                return
            job = self.change_fn(name, **changes)
            done = f"{name}: " + ", ".join(
                {"role": f"role now {role}", "badge": "badge changed" if badge else "badge removed",
                 "active": "enabled" if changes.get("active") else "disabled", "pin": "PIN reset"}[k]
                for k in changes)
        self.busy = True
        self.save_button.setEnabled(False)
        self.show_message("Saving…", error=False)
        self.workers.submit(job, lambda user, error: self._saved(user, error, name, done))

    def _saved(self, user: Any, error: BaseException | None, name: str, done: str) -> None:
        self.busy = False
        self.save_button.setEnabled(True)
        if error is not None:
            self.show_message(f"Not saved: {error}", error=True)
            return
        self.changed.emit(user)
        self.show_message(done, error=False)
        self.reload(select=name, note=done)

    def show_message(self, text: str, *, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ERROR_TEXT}; font-weight: bold;" if error else "")
