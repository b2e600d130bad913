"""Export a lot's manifest in any format ``station lot export`` writes (same code, same files).

The export runs in a worker; the dialog says what was written, how many devices and the file's
SHA-256 (the ``.sha256`` file beside it is what a customer checks against).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from station.export.formats import FORMATS
from station.paths import path_component
from station.ui.workers import Workers

FORMAT_HELP = {
    "txt": "one device ID per line (Particle console import)",
    "csv": "one row per device: identity, result, traceability",
    "json": "the csv fields plus each device's steps and measurements",
    "peridio-csv": "Peridio console bulk import",
}
SUFFIX = {"txt": ".txt", "csv": ".csv", "json": ".json", "peridio-csv": ".peridio.csv"}

#: (lot, format, path, include_all) -> an ExportResult (path, devices, sha256, checksum_path)
Export = Callable[[str, str, Path, bool], Any]


class ExportDialog(QDialog):
    def __init__(self, lots: list[str], export: Export, workers: Workers, *, folder: Path,
                 current: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.export = export
        self.workers = workers
        self.folder = folder
        self.result: Any = None
        self.setWindowTitle("Export manifest")
        self.lot = QComboBox()
        self.lot.addItems(lots)
        if current in lots:
            self.lot.setCurrentText(current)
        self.fmt = QComboBox()
        for f in FORMATS:
            self.fmt.addItem(f"{f} — {FORMAT_HELP.get(f, '')}", f)
        self.include_all = QCheckBox("Include devices that did not pass (and re-provisioned ones)")
        self.path = QLineEdit()
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Lot", self.lot)
        form.addRow("Format", self.fmt)
        form.addRow("", self.include_all)
        form.addRow("File", path_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("primary")
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.outcome)
        lay.addWidget(self.buttons)
        self.lot.currentIndexChanged.connect(self._suggest)
        self.fmt.currentIndexChanged.connect(self._suggest)
        self._suggest()

    def _suggest(self, *_: object) -> None:
        lot, fmt = self.lot.currentText(), self.fmt.currentData()
        if lot:
            self.path.setText(str(self.folder / f"{path_component(lot)}{SUFFIX.get(fmt, '.txt')}"))

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export manifest to", self.path.text())
        if name:
            self.path.setText(name)

    def run(self) -> None:
        lot, fmt, path = self.lot.currentText(), str(self.fmt.currentData()), Path(self.path.text())
        if not lot or not self.path.text().strip():
            self.outcome.setText("Choose a lot and a file first.")
            return
        include_all = self.include_all.isChecked()
        self.export_button.setEnabled(False)
        self.outcome.setText(f"exporting {lot} as {fmt}…")
        self.workers.submit(lambda: self.export(lot, fmt, path, include_all), self._done)

    def _done(self, result: Any, error: BaseException | None) -> None:
        self.export_button.setEnabled(True)
        if error is not None:
            self.outcome.setText(f"Export failed: {error}")
            self.outcome.setStyleSheet("color: #A00000; font-weight: bold;")
            return
        self.result = result
        self.outcome.setStyleSheet("")
        self.outcome.setText(f"Wrote {result.devices} devices to {result.path}\n"
                             f"SHA-256 {result.sha256} ({Path(result.checksum_path).name})")
