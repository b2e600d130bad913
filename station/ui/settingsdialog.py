"""The settings dialog: every row of the one settings table, its value, where it came from, who may change it.

The rows and the save are the application layer's (:mod:`station.app.settings_edit`): it decides
who may change what (the row's ``changed_by`` against the logged-in role), checks the value with
the row's type, writes the station file and writes the audit row. The dialog lists, explains and
routes; reading the rows and saving run in workers (the station file may sit on a network share,
the audit row goes to a registry that may be remote).

A locked row stays selectable, so an operator can read why it is locked and who may change it:
its editor is disabled and the reason is written beside it (no hover needed on a touch screen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.fit import fit
from station.ui.gate import GatedButton
from station.ui.pagedmodel import Column
from station.ui.rowsmodel import RowsModel, RowsTable
from station.ui.workers import Workers

#: called on the GUI thread; each returns the job a worker runs, so the job acts for whoever is
#: logged in when the person presses the button, not when the dialog opened
Load = Callable[[], Callable[[], list[Any]]]
Save = Callable[[str, str], Callable[[], Any]]

def _you(r: Any) -> str:
    if r.editable:
        return "you may change it"
    if r.secret or r.file_key is None:
        return "locked: not kept in station.toml"
    return f"locked: needs {r.changed_by}"


# A word, not a padlock glyph: a station PC without an emoji font draws U+1F512 as an empty box.
COLUMNS = [
    Column("Setting", lambda r: r.name, tooltip=lambda r: r.help),
    Column("Value", lambda r: r.shown, tooltip=lambda r: r.shown),
    Column("From", lambda r: r.where, tooltip=lambda r: r.where),
    Column("Changed by", lambda r: r.changed_by),
    Column("You", _you, tooltip=lambda r: r.why_not or "you may change it"),
]


class SettingsDialog(QDialog):
    saved = Signal(object)  # the app layer's Saved

    def __init__(self, load: Load, save: Save, workers: Workers, *, who: str, scale: float = 1.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Station settings")
        self.load, self.save_fn, self.workers = load, save, workers
        self.busy = False
        self.model = RowsModel(COLUMNS, locked=lambda r: not r.editable, parent=self)
        heading = QLabel(f"Settings of this station · {who}")
        heading.setFont(theme.sans(theme.px(18, scale), bold=True))
        heading.setWordWrap(True)
        self.table = RowsTable(self.model, name="settings")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # a long path is elided, the lock is not
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

        self.editor = QGroupBox("Change")
        self.name = QLabel("Choose a setting")
        self.name.setFont(theme.sans(theme.px(16, scale), bold=True))
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.value = QLineEdit()
        self.value.setAccessibleName("new value")
        self.value.setProperty("scannerRaw", True)  # typed as it comes: the label detector leaves it alone
        self.value.setPlaceholderText("empty: take it out of the station file (the default applies)")
        self.value.returnPressed.connect(self.save)
        self.save_button = GatedButton("Save")
        self.save_button.setAutoDefault(False)
        self.save_button.activated.connect(self.save)
        self.save_button.refused.connect(self._save_refused)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("settings message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout(self.editor)
        form.addRow(self.name)
        form.addRow(self.help)
        form.addRow("Value", self.value)
        form.addRow("", self.save_button)
        form.addRow(self.message)

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)  # Enter in the field saves, not closes
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(heading)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.editor)
        lay.addWidget(box)
        fit(self, int(1200 * scale), int(660 * scale))
        self._set_editor(None)
        self.reload()

    # ------------------------------------------------------------------ reading
    def reload(self, select: str | None = None, note: str = "") -> None:
        """Read the rows again in a worker; ``note`` (what a save did) stays on screen after it."""
        self.busy = True
        self._select, self._note = select, note
        self.workers.submit(self.load(), self._loaded)

    def _loaded(self, rows: Any, error: BaseException | None) -> None:
        select, note = self._select, self._note
        self.busy = False
        if error is not None:
            self.show_message(f"Cannot read the settings: {error}", error=True)
            return
        current = select or (self.current.name if self.current is not None else None)
        self.model.set_rows(rows)
        i = self.model.find(lambda r: r.name == current) if current else -1
        self.table.selectRow(max(i, 0))
        if note:
            self.show_message(note, error=False)

    @property
    def current(self) -> Any:
        return self.table.current()

    def select(self, name: str) -> None:
        self.table.select(name)

    def _row_changed(self, *_: Any) -> None:
        self._set_editor(self.current)

    def _set_editor(self, row: Any) -> None:
        if row is None:
            self.value.setEnabled(False)
            self.save_button.setEnabled(False)
            return
        self.name.setText(f"{row.name}  ({row.type}; now {row.shown}, from {row.where})")
        env = " / ".join(row.env)
        self.help.setText(row.help + (f"  Environment: {env}." if env else "")
                          + (f"  station.toml: [{row.file_key}]." if row.file_key else "")
                          + f"  Default: {row.default}.")
        self.value.setText(row.text)
        self.value.setEnabled(row.editable)
        self.save_button.setEnabled(True)
        self.save_button.set_allowed(row.editable, row.why_not)
        self.save_button.setText("Save" if row.editable else "Save (locked: press to see why)")
        self.show_message("" if row.editable else row.why_not, error=not row.editable)

    # ------------------------------------------------------------------ saving
    def save(self) -> None:
        row = self.current
        if row is None or self.busy:
            return
        self._submit(row.name, self.value.text())

    def _save_refused(self, _why: str) -> None:
        """A locked Save still asks the core: it says no, and a refusal of a role is audited."""
        row = self.current
        if row is not None and not self.busy:
            self._submit(row.name, row.text)

    def _submit(self, name: str, text: str) -> None:
        self.busy = True
        self.save_button.setEnabled(False)
        self.show_message(f"Saving {name}…", error=False)
        self.workers.submit(self.save_fn(name, text), self._saved)

    def _saved(self, result: Any, error: BaseException | None) -> None:
        self.busy = False
        self.save_button.setEnabled(True)
        if error is not None:
            self.show_message(f"Not saved: {error}", error=True)
            return
        text = (f"{result.name} taken out of {result.file}" if result.removed
                else f"{result.name} = {result.shown} saved in {result.file}")
        if result.overridden_by:
            text += f"; {result.overridden_by} still wins over the file while it is set"
        if result.restart:
            text += ". The station uses it from its next start."
        self.saved.emit(result)
        self.show_message(text, error=False)
        self.reload(select=result.name, note=text)

    def show_message(self, text: str, *, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ERROR_TEXT}; font-weight: bold;" if error else "")
