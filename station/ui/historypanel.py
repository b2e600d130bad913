"""History: every attempt in the registry, newest first, searchable, a page at a time.

The table sits on :class:`~station.ui.pagedmodel.PagedTableModel` over the registry's paged
attempts read model; typing in the search box (device ID or serial) or changing a filter starts a
new query after a short pause, so a fast typist does not fire a query per key. Double-clicking a
row (or Enter on it) opens the device's full record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station.ui.cardmodel import step_title
from station.ui.pagedmodel import ROW_ROLE, Column, Fetch, PagedTableModel
from station.ui.workers import Workers


@dataclass(frozen=True)
class HistoryQuery:
    """What the operator asked for; the window turns it into the read model's filter."""

    text: str = ""
    outcome: str | None = None
    lot: str | None = None
    since_hours: float | None = None


def _when(row: Any) -> str:
    t = getattr(row, "started_at", None)
    return t.strftime("%Y-%m-%d %H:%M:%S") if isinstance(t, datetime) else ""


def _secs(row: Any) -> str:
    d = getattr(row, "duration_s", None)
    return "" if d is None else f"{d:.1f}"


def _get(name: str) -> Any:
    return lambda row: getattr(row, name, None)


def columns(titles: dict[str, str]) -> list[Column]:
    """The table's columns. The failing step reads as on the card ("Battery voltage", "Writing
    firmware"), by ``titles`` (the loaded profile's functional tests, kept up to date by the
    window; a catalogue step by its operator words); its technical name and the full reason are
    in the cell's tooltip."""

    def failed_step(row: Any) -> str | None:
        name = getattr(row, "failing_step", None)
        return step_title(name, titles) if name else None

    def why(row: Any) -> str | None:
        name, reason = getattr(row, "failing_step", None), getattr(row, "reason", None)
        return f"{name}: {reason}" if name and reason and not str(reason).startswith(f"{name}:") else (reason or name)

    out = list(COLUMNS)
    out[FAILED_STEP_COLUMN] = Column("Failed step", failed_step, tooltip=why)
    return out


COLUMNS = [
    Column("Started", _when),
    Column("Device ID", _get("device_id")),
    Column("Serial", _get("serial_number")),
    Column("Lot", _get("lot")),
    Column("Station / slot", lambda r: f"{getattr(r, 'station', '') or ''}/{getattr(r, 'slot', '') or ''}"),
    Column("Operator", _get("operator")),
    Column("Via", _get("transport")),
    Column("Result", _get("outcome")),
    Column("Failed step", _get("failing_step"), tooltip=_get("reason")),
    Column("Seconds", _secs, align_right=True),
]
FAILED_STEP_COLUMN = 8

OUTCOMES: list[tuple[str, str | None]] = [("Any result", None), ("Passed", "passed"), ("Failed", "failed"), ("Error", "error"),
            ("Stopped", "cancelled"), ("Skipped", "skipped")]
PERIODS: list[tuple[str, float | None]] = [("Any time", None), ("Last hour", 1.0), ("Last 8 hours", 8.0), ("Last 24 hours", 24.0),
           ("Last 7 days", 168.0)]


class HistoryPanel(QWidget):
    openRecord = Signal(str)  # device ID

    def __init__(self, fetch: Fetch, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.titles: dict[str, str] = {}  # the loaded profile's test titles (set_titles)
        self.model = PagedTableModel(columns(self.titles), fetch, workers, page_size=200)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search device ID or serial number")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("search history")
        self.outcome = QComboBox()
        for text, value in OUTCOMES:
            self.outcome.addItem(text, value)
        self.period = QComboBox()
        for text, hours in PERIODS:
            self.period.addItem(text, hours)
        self.lot = QComboBox()
        self.lot.addItem("Every lot", None)
        self.status = QLabel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self._open)
        self.table.activated.connect(self._open)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.requery)
        self.search.textChanged.connect(self._later)
        self.outcome.currentIndexChanged.connect(self._later)
        self.period.currentIndexChanged.connect(self._later)
        self.lot.currentIndexChanged.connect(self._later)
        self.model.loading.connect(self._loading)
        self.model.failed.connect(self._failed)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 3)
        filters.addWidget(self.outcome, 1)
        filters.addWidget(self.lot, 1)
        filters.addWidget(self.period, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(filters)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)

    def query(self) -> HistoryQuery:
        return HistoryQuery(text=self.search.text().strip(), outcome=self.outcome.currentData(),
                            lot=self.lot.currentData(), since_hours=self.period.currentData())

    def _later(self, *_: object) -> None:
        self._debounce.start()

    def requery(self) -> None:
        self._debounce.stop()
        self.model.set_query(self.query())

    def set_titles(self, titles: dict[str, str]) -> None:
        """The loaded profile's functional tests by their titles, for the failing-step column."""
        if titles != self.titles:
            self.titles.clear()
            self.titles.update(titles)
            rows = self.model.rowCount()
            if rows:
                col = FAILED_STEP_COLUMN
                self.model.dataChanged.emit(self.model.index(0, col), self.model.index(rows - 1, col))

    def set_lots(self, names: list[str]) -> None:
        current = self.lot.currentData()
        self.lot.blockSignals(True)
        self.lot.clear()
        self.lot.addItem("Every lot", None)
        for n in names:
            self.lot.addItem(n, n)
        i = self.lot.findData(current)
        self.lot.setCurrentIndex(max(0, i))
        self.lot.blockSignals(False)

    def show_device(self, key: str) -> None:
        """A scan: show this device's attempts (search by its ID or serial), from any filter."""
        for box in (self.outcome, self.period, self.lot):
            box.blockSignals(True)
            box.setCurrentIndex(0)
            box.blockSignals(False)
        self.search.blockSignals(True)
        self.search.setText(key)
        self.search.blockSignals(False)
        self.requery()

    def _open(self, index: QModelIndex) -> None:
        row = self.model.data(index, ROW_ROLE)
        device_id = getattr(row, "device_id", None)
        if device_id:
            self.openRecord.emit(device_id)

    def _loading(self, busy: bool) -> None:
        self.status.setStyleSheet("")
        n = self.model.rowCount()
        if busy:
            self.status.setText(f"{n} attempts shown · loading…")
        else:
            more = "" if self.model.complete else " · scroll for more"
            self.status.setText(f"{n} attempts shown{more}")

    def _failed(self, message: str) -> None:
        self.status.setText(f"cannot read the history: {message}")
        self.status.setStyleSheet("color: #A00000; font-weight: bold;")
