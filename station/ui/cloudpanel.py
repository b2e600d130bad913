"""The cloud queue: what is waiting to be imported, what was imported, what needs a person.

"Sync now" drains the outbox once in a worker (the window never waits on the network); "Retry
parked" puts entries the cloud refused back in the queue and is an engineer's action (the
core's role check decides; the button says why it is locked).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.gate import GatedButton
from station.ui.pagedmodel import Column, Fetch, PagedTableModel
from station.ui.workers import Workers

STATES = [("Every entry", None), ("Pending", "pending"), ("Imported", "imported"), ("Needs attention", "failed")]


def _field(name: str) -> Any:
    return lambda e: (e.get(name) if isinstance(e, dict) else getattr(e, name, None))


COLUMNS = [
    Column("#", _field("id"), align_right=True),
    Column("Device ID", _field("device_id")),
    Column("Cloud", _field("target")),
    Column("Stage", _field("stage")),
    Column("State", lambda e: {"failed": "needs attention"}.get(str(_field("state")(e)), _field("state")(e))),
    Column("Tries", _field("tries"), align_right=True),
    Column("Next try", _field("next_try_at")),
    Column("Reason", _field("last_error"), tooltip=_field("last_error")),
]


class CloudPanel(QWidget):
    syncRequested = Signal()
    retryRequested = Signal()

    def __init__(self, fetch: Fetch, workers: Workers, scale: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = PagedTableModel(COLUMNS, fetch, workers, page_size=500)
        self.summary = QLabel("—")
        self.summary.setFont(theme.sans(theme.px(20, scale), bold=True))
        self.summary.setWordWrap(True)
        self.last_sync = QLabel("")
        self.last_sync.setWordWrap(True)
        self.state = QComboBox()
        for text, value in STATES:
            self.state.addItem(text, value)
        self.state.currentIndexChanged.connect(self.requery)
        self.sync_button = GatedButton("Sync now")
        self.sync_button.setObjectName("primary")
        self.retry_button = GatedButton("Retry parked")
        self.sync_button.activated.connect(self.syncRequested)
        self.retry_button.activated.connect(self.retryRequested)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.state)
        head.addWidget(self.sync_button)
        head.addWidget(self.retry_button)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.last_sync)
        lay.addWidget(self.table, 1)

    def requery(self, *_: object) -> None:
        self.model.set_query(self.state.currentData())

    def show_counts(self, pending: int, imported: int, attention: int) -> None:
        self.summary.setText(f"{pending} pending · {imported} imported · {attention} need attention")
        self.summary.setAccessibleName(self.summary.text())

    def show_sync(self, text: str) -> None:
        self.last_sync.setText(text)
