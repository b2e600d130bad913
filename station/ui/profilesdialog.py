"""Profiles: choose one from the profiles folder, read it, and (engineers) edit its TOML with a check before save.

Validity is the core's (:mod:`station.app.profile_edit`: the loader and the firmware check that
``station profile check`` runs). The dialog shows each problem with its line; choosing a problem
puts the cursor on that line. A save needs a reason (it goes to the audit log with the file's
SHA-256 before and after) and is refused, with nothing written, while any problem remains.

Operators may open the dialog and read a profile; the text is read-only for them and the Save and
Use buttons stay pressable but locked, saying why (the core refuses again and audits it).
Listing, reading, checking and saving all run in workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.fit import fit
from station.ui.gate import GatedButton
from station.ui.pagedmodel import Column
from station.ui.rowsmodel import RowsModel
from station.ui.workers import Workers

COLUMNS = [
    Column("File", lambda e: e.path.name, tooltip=lambda e: str(e.path)),
    Column("Name", lambda e: e.name),
    Column("Product", lambda e: e.product or "—"),
    Column("Platform", lambda e: e.platform or "—"),
    Column("Check", lambda e: "ok" if e.valid else f"{e.problems} problem(s)",
           tooltip=lambda e: e.first_problem or "valid"),
]

Job = Callable[[], Any]


@dataclass(frozen=True)
class ProfileJobs:
    """What the dialog asks of the application layer. Each is called on the GUI thread and returns
    the job a worker runs, so it acts for whoever is logged in when the button is pressed."""

    list_folder: Callable[[Path], Job]
    read: Callable[[Path], Job]
    check: Callable[[Path, str], Job]
    save: Callable[[Path, str, str], Job]
    allowed: Callable[[], str]  # "" when the person may edit and choose, else why not


class ProfilesDialog(QDialog):
    useProfile = Signal(str)  # the path the engineer chose to run
    saved = Signal(object)

    def __init__(self, jobs: ProfileJobs, workers: Workers, *, where: Path, current: Path | None, who: str,
                 scale: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Product profiles")
        self.jobs, self.workers = jobs, workers
        self.where = where
        self.current_profile = current
        self.path: Path | None = None  # the profile in the editor
        self.loaded_text = ""
        self.busy = False
        self.problems: list[Any] = []
        self._select: Path | None = current
        self._note = ""  # what a save did, shown again once the list and the text are read back

        heading = QLabel(f"Product profiles · {who}")
        heading.setFont(theme.sans(theme.px(18, scale), bold=True))
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_button = QPushButton("Other folder…")
        self.folder_button.setAutoDefault(False)
        self.folder_button.clicked.connect(self.choose_folder)
        self.folder_dialog: QFileDialog | None = None
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.folder_button)

        self.model = RowsModel(COLUMNS, locked=lambda e: not e.valid, parent=self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("profiles")
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

        self.editor = QPlainTextEdit()
        self.editor.setFont(theme.mono(theme.px(14, scale)))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setAccessibleName("profile text")
        self.editor.setProperty("scannerRaw", True)  # typed text as it comes, not held for the label detector
        self.editor.textChanged.connect(self._edited)
        self.line_label = QLabel("")
        self.editor.cursorPositionChanged.connect(self._cursor_moved)
        self.problem_list = QListWidget()
        self.problem_list.setAccessibleName("problems")
        self.problem_list.setMaximumHeight(int(130 * scale))
        self.problem_list.currentRowChanged.connect(self.go_to_problem)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why it changes (goes to the audit log)")
        self.reason.setAccessibleName("reason")
        self.reason.setProperty("scannerRaw", True)
        self.check_button = QPushButton("Check")
        self.check_button.setAutoDefault(False)
        self.check_button.clicked.connect(self.check)
        self.save_button = GatedButton("Save")
        self.save_button.setAutoDefault(False)
        self.save_button.activated.connect(self.save)
        self.save_button.refused.connect(self._refused)
        self.save_as_button = GatedButton("Save as…")
        self.save_as_button.setAutoDefault(False)
        self.save_as_button.activated.connect(self.save_as)
        self.save_as_button.refused.connect(self._refused)
        self.save_as_dialog: QFileDialog | None = None
        self.use_button = GatedButton("Use this profile")
        self.use_button.setAutoDefault(False)
        self.use_button.activated.connect(self.use)
        self.use_button.refused.connect(self._refused)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("profiles message")
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Reason"))
        buttons.addWidget(self.reason, 1)
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.save_as_button)
        buttons.addWidget(self.use_button)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.editor, 1)
        rl.addWidget(self.line_label)
        rl.addWidget(self.problem_list)
        rl.addLayout(buttons)
        rl.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        self.split = split

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(heading)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(box)
        fit(self, int(1250 * scale), int(700 * scale))
        self.split.setSizes([int(self.width() * 0.42), int(self.width() * 0.58)])  # every column of the list shows
        self.apply_role()
        self.reload()

    # ------------------------------------------------------------------ who may
    def apply_role(self) -> None:
        why = self.jobs.allowed()
        self.editor.setReadOnly(bool(why))
        self.reason.setEnabled(not why)
        self.save_button.set_allowed(not why, why)
        self.use_button.set_allowed(not why, why)
        self.save_as_button.set_allowed(not why, why)
        self.save_as_button.setText("Save as…" if not why else "Save as… (locked)")
        self.save_button.setText("Save" if not why else "Save (locked: press to see why)")
        self.use_button.setText("Use this profile" if not why else "Use (locked)")
        if why:
            self.show_message(why + " You can read the profiles here.", error=True)

    def _refused(self, why: str) -> None:
        """A locked button still asks the core, which refuses and audits it; the dialog says why."""
        self.show_message(why, error=True)
        if self.path is None:
            return
        if self.sender() is self.use_button:
            self.useProfile.emit(str(self.path))  # the window's role check refuses it and audits
        elif not self.busy:
            self.busy = True
            self.workers.submit(self.jobs.save(self.path, self.editor.toPlainText(), ""), self._saved)

    # ------------------------------------------------------------------ the folder
    def reload(self) -> None:
        self.folder_label.setText(f"Folder: {self.where}")
        self.busy = True
        self.workers.submit(self.jobs.list_folder(self.where), self._listed)

    def _listed(self, entries: Any, error: BaseException | None) -> None:
        self.busy = False
        if error is not None:
            self.model.set_rows([])
            self.show_message(f"Cannot list the profiles: {error}", error=True)
            return
        self.model.set_rows(entries)
        i = self.model.find(lambda e: self._select is not None and e.path.absolute() == self._select.absolute())
        if i >= 0 or self.model.rowCount():
            self.table.selectRow(max(i, 0))
        else:
            self.show_message(f"No profiles (*.toml) in {self.where}", error=False)

    def choose_folder(self) -> QFileDialog:
        d = QFileDialog(self, "Folder of profiles", str(self.where))
        d.setFileMode(QFileDialog.FileMode.Directory)
        d.setOption(QFileDialog.Option.ShowDirsOnly)
        d.setOption(QFileDialog.Option.DontUseNativeDialog)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.fileSelected.connect(self.set_folder)
        self.folder_dialog = d
        d.open()
        return d

    def set_folder(self, folder: str) -> None:
        self.where = Path(folder)
        self._select = None
        self.reload()

    def select(self, name: str) -> None:
        i = self.model.find(lambda e: e.path.name == name)
        if i < 0:
            raise KeyError(name)
        self.table.selectRow(i)

    # ------------------------------------------------------------------ one profile
    def _row_changed(self, *_: Any) -> None:
        i = self.table.currentIndex()
        if not i.isValid():
            return
        entry = self.model.row_at(i.row())
        self.path = entry.path
        self.busy = True
        self.workers.submit(self.jobs.read(entry.path), lambda text, error: self._read(entry, text, error))

    def _read(self, entry: Any, text: Any, error: BaseException | None) -> None:
        self.busy = False
        if error is not None:
            self.show_message(f"Cannot read {entry.path.name}: {error}", error=True)
            return
        if self.path != entry.path:
            return  # another row was chosen meanwhile
        self.loaded_text = str(text)
        self.editor.blockSignals(True)
        self.editor.setPlainText(self.loaded_text)
        self.editor.blockSignals(False)
        self.editor.document().setModified(False)
        self.show_problems([])
        if self._note:
            self.show_message(self._note, error=False)
            self._note = ""
        elif not entry.valid:
            self.check()
        elif not self.jobs.allowed():
            self.show_message(f"{entry.path.name}: valid" + (" (in use)" if self._in_use() else ""), error=False)

    def _in_use(self) -> bool:
        return self.path is not None and self.current_profile is not None \
            and self.path.absolute() == Path(self.current_profile).absolute()

    def _edited(self) -> None:
        if self.path is not None:
            self.show_message(f"{self.path.name}: changed, not saved", error=False)

    def _cursor_moved(self) -> None:
        c = self.editor.textCursor()
        self.line_label.setText(f"Line {c.blockNumber() + 1}, column {c.positionInBlock() + 1}")

    # ------------------------------------------------------------------ checking and saving
    def check(self) -> None:
        if self.path is None or self.busy:
            return
        self.busy = True
        self.show_message("Checking…", error=False)
        self.workers.submit(self.jobs.check(self.path, self.editor.toPlainText()), self._checked)

    def _checked(self, problems: Any, error: BaseException | None) -> None:
        self.busy = False
        if error is not None:
            self.show_message(f"Cannot check: {error}", error=True)
            return
        self.show_problems(list(problems))
        self.show_message("No problems: profile check passes" if not problems
                          else f"{len(problems)} problem(s): choose one to go to its line", error=bool(problems))

    def show_problems(self, problems: list[Any]) -> None:
        self.problems = problems
        self.problem_list.clear()
        for p in problems:
            QListWidgetItem(str(p), self.problem_list)
        self.problem_list.setVisible(bool(problems))

    def go_to_problem(self, row: int) -> None:
        if not (0 <= row < len(self.problems)) or not self.problems[row].line:
            return
        block = self.editor.document().findBlockByNumber(self.problems[row].line - 1)
        cursor = QTextCursor(block)
        cursor.select(QTextCursor.SelectionType.LineUnderCursor)
        self.editor.setTextCursor(cursor)
        self.editor.centerCursor()
        self.editor.setFocus()

    def save_as(self) -> QFileDialog | None:
        """A copy under a new name (a profile shipped with the station is edited as a copy)."""
        if self.path is None:
            return None
        if not self.reason.text().strip():
            self.show_message("Say why first (the reason goes to the audit log)", error=True)
            self.reason.setFocus()
            return None
        d = QFileDialog(self, "Save the profile as", str(self.where / f"{self.path.stem}-copy.toml"), "Profiles (*.toml)")
        d.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        d.setDefaultSuffix("toml")
        d.setOption(QFileDialog.Option.DontUseNativeDialog)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.fileSelected.connect(self.save_to)
        self.save_as_dialog = d
        d.open()
        return d

    def save_to(self, name: str) -> None:
        """Check and write the editor's text to ``name`` (audited like a save); the list then shows it."""
        if self.busy or not name:
            return
        target = Path(name)
        self.busy = True
        self.show_message(f"Checking and saving {target.name}…", error=False)
        self.workers.submit(self.jobs.save(target, self.editor.toPlainText(), self.reason.text()), self._saved)

    def save(self) -> None:
        if self.path is None or self.busy:
            return
        if not self.reason.text().strip():
            self.show_message("Say why it changes first (the reason goes to the audit log)", error=True)
            self.reason.setFocus()
            return
        self.busy = True
        self.show_message(f"Checking and saving {self.path.name}…", error=False)
        self.workers.submit(self.jobs.save(self.path, self.editor.toPlainText(), self.reason.text()), self._saved)

    def _saved(self, result: Any, error: BaseException | None) -> None:
        self.busy = False
        if error is not None:
            problems = getattr(error, "problems", None)
            if problems:
                self.show_problems(list(problems))
                self.show_message(f"Not saved: {len(problems)} problem(s) (nothing was written)", error=True)
            else:
                self.show_message(f"Not saved: {error}", error=True)
            return
        self.reason.clear()
        self.path = result.path  # a Save as… goes on with the copy, listed in its own folder
        if result.path.parent.absolute() != self.where.absolute():
            self.where = result.path.parent
        self.loaded_text = self.editor.toPlainText()
        self.editor.document().setModified(False)
        self.show_problems([])
        note = f"{result.path.name} saved (sha256 {result.sha256[:12]}…)"
        if self._in_use():
            note += "; the slots run the version loaded before: press Use this profile to load the new one"
        self.saved.emit(result)
        self._select, self._note = result.path, note
        self.show_message(note, error=False)
        self.reload()

    def use(self) -> None:
        if self.path is None:
            return
        if self.editor.document().isModified():
            self.show_message("Save or undo the changes first: the slots run what is on disk", error=True)
            return
        self.useProfile.emit(str(self.path))
        self.current_profile = self.path
        self.show_message(f"Loading {self.path.name} for the next units…", error=False)

    def show_message(self, text: str, *, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ERROR_TEXT}; font-weight: bold;" if error else "")
