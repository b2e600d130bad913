"""The log pane: every slot's lines, or one slot's, newest at the bottom and followed."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station.ui.logmodel import ALL_SLOTS, LogLine, LogModel, SlotFilter

LEVELS = [("Everything", logging.DEBUG), ("Info and up", logging.INFO), ("Warnings and errors", logging.WARNING)]


class LogPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LogModel(self)
        self.proxy = SlotFilter(self)
        self.proxy.setSourceModel(self.model)
        self.slot = QComboBox()
        self.slot.setAccessibleName("show the log of")
        self.slot.addItem("Every slot", ALL_SLOTS)
        self.slot.currentIndexChanged.connect(self._slot_changed)
        self.level = QComboBox()
        for text, value in LEVELS:
            self.level.addItem(text, value)
        self.level.setCurrentIndex(1)
        self.level.currentIndexChanged.connect(self._level_changed)
        self.proxy.set_min_level(logging.INFO)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        h = self.table.horizontalHeader()
        h.setStretchLastSection(True)
        # Fixed widths: ResizeToContents would measure every one of thousands of rows per insert.
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        fm = self.table.fontMetrics()
        for col, sample in enumerate(("00:00:00", "slot 00", "warning")):
            self.table.setColumnWidth(col, fm.horizontalAdvance(sample) + 24)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(fm.height() + 6)
        self.proxy.rowsInserted.connect(self._inserted)
        self._scroll = QTimer(self)
        self._scroll.setSingleShot(True)
        self._scroll.setInterval(100)
        self._scroll.timeout.connect(self.table.scrollToBottom)
        bar = QHBoxLayout()
        bar.addWidget(self.slot, 2)
        bar.addWidget(self.level, 2)
        bar.addWidget(self.follow)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)

    def add_slot(self, slot: str, title: str) -> None:
        if self.slot.findData(slot) < 0:
            self.slot.addItem(title, slot)

    def show_slot(self, slot: str) -> None:
        i = self.slot.findData(slot)
        if i >= 0:
            self.slot.setCurrentIndex(i)

    def append(self, lines: list[LogLine]) -> None:
        self.model.append(lines)

    def _slot_changed(self, _: int) -> None:
        self.proxy.set_slot(self.slot.currentData())

    def _level_changed(self, _: int) -> None:
        self.proxy.set_min_level(self.level.currentData())

    def _inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if self.follow.isChecked():
            self._scroll.start()  # once per burst, not per line
