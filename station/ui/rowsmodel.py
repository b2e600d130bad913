"""A read-only table model over a list of rows that are already in memory (settings, users).

The history and the cloud queue page through the registry (:mod:`station.ui.pagedmodel`); the
dialogs' lists are a few dozen rows read in one worker job, so they are replaced whole when the
job comes back. Columns are the same :class:`~station.ui.pagedmodel.Column` as the paged model's,
so every table of the window reads its cells one way. :class:`RowsTable` is the view both dialogs
show them in: one row chosen at a time, read-only, rows found by their ``name``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QTableView, QWidget

from station.ui.pagedmodel import Column, ColumnsModel, Index


class RowsModel(ColumnsModel):
    def __init__(self, columns: Sequence[Column], *, locked: Callable[[Any], bool] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[Any] = []
        #: a row the person may not change is drawn muted (and says so in its tooltip column)
        self.locked = locked

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and self.locked is not None and index.isValid() \
                and 0 <= index.row() < len(self.rows) and self.locked(self.rows[index.row()]):
            from PySide6.QtGui import QColor

            from station.ui import theme

            return QColor(theme.MUTED)
        return super().data(index, role)

    def row_at(self, row: int) -> Any:
        return self.rows[row]

    def find(self, match: Callable[[Any], bool]) -> int:
        """The index of the first row ``match`` accepts, or -1."""
        return next((i for i, r in enumerate(self.rows) if match(r)), -1)


class RowsTable(QTableView):
    """A :class:`RowsModel`'s rows, one chosen at a time (the dialog edits the chosen one)."""

    def __init__(self, model: RowsModel, *, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = model
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        self.setAccessibleName(name)

    def current(self) -> Any:
        """The chosen row, or ``None`` (nothing chosen, or the rows were replaced under it)."""
        i = self.currentIndex()
        return self.rows.row_at(i.row()) if i.isValid() and i.row() < self.rows.rowCount() else None

    def select(self, name: str) -> None:
        """Choose the row whose ``name`` is ``name``; KeyError when there is none."""
        i = self.rows.find(lambda r: r.name == name)
        if i < 0:
            raise KeyError(name)
        self.selectRow(i)
