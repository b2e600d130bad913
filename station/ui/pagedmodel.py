"""A table model over a paged read model: rows arrive a page at a time, fetched off the GUI thread.

The view asks ``canFetchMore``/``fetchMore`` as the operator scrolls (Qt's "Fetch More" pattern);
``fetchMore`` only *submits* the next page to a worker and returns at once, and the rows are
inserted when the worker's result comes back on the GUI thread. A new query (a search, a filter)
bumps a generation number, so a page of the old query that arrives late is dropped instead of
being appended to the new one's rows.

The read model itself is a callable ``fetch(query, cursor, limit) -> (rows, next_cursor)``
(``next_cursor`` ``None`` when there are no more rows): keyset paging, so page 500 costs what
page 1 costs, on a 100,000-device registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from station.ui.workers import Workers

Index = QModelIndex | QPersistentModelIndex
#: the invisible root (a default argument evaluated once, as Qt's own signatures mean it)
ROOT = QModelIndex()
Fetch = Callable[[Any, Any, int], tuple[Sequence[Any], Any]]

ROW_ROLE = Qt.ItemDataRole.UserRole + 10  # the row object itself


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]  # row -> what the cell shows
    tooltip: Callable[[Any], Any] | None = None
    align_right: bool = False


class ColumnsModel(QAbstractTableModel):
    """The cells of rows under :class:`Column` s, read one way by every table of the window (paged
    from the registry, or a list already in memory). Subclasses hold ``rows`` and ``columns``."""

    columns: list[Column]
    rows: list[Any]

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.columns):
            return self.columns[section].header
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self.rows)) \
                or not (0 <= index.column() < len(self.columns)):
            return None
        row = self.rows[index.row()]
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            v = col.value(row)
            return "" if v is None else str(v)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole and col.tooltip is not None:
            return col.tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and col.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class PagedTableModel(ColumnsModel):
    loading = Signal(bool)
    failed = Signal(str)  # the read model raised: the message for the status line

    def __init__(self, columns: Sequence[Column], fetch: Fetch, workers: Workers, *,
                 page_size: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.fetch = fetch
        self.workers = workers
        self.page_size = page_size
        self.query: Any = None
        self.rows: list[Any] = []
        self._cursor: Any = None
        self._exhausted = True  # nothing to fetch until a query is set
        self._in_flight = False
        self._generation = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------ queries
    def set_query(self, query: Any) -> None:
        """Start over with ``query``: drop the rows, fetch its first page."""
        self.beginResetModel()
        self._generation += 1
        self.query = query
        self.rows = []
        self._cursor = None
        self._exhausted = False
        self._in_flight = False
        self.last_error = None
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def refresh(self) -> None:
        self.set_query(self.query)

    def canFetchMore(self, parent: Index = ROOT) -> bool:
        return not parent.isValid() and not self._exhausted and not self._in_flight

    def fetchMore(self, parent: Index = ROOT) -> None:
        if not self.canFetchMore(parent):
            return
        self._in_flight = True
        self.loading.emit(True)
        generation, query, cursor, limit = self._generation, self.query, self._cursor, self.page_size
        self.workers.submit(lambda: (generation, self.fetch(query, cursor, limit)), self._page_arrived)

    def _page_arrived(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._in_flight = False
            self.last_error = str(error)
            self._exhausted = True  # a failing query is not retried by scrolling; refresh() does
            self.loading.emit(False)
            self.failed.emit(str(error))
            return
        generation, (rows, next_cursor) = result
        if generation != self._generation:
            return  # a page of a query that has since been replaced
        self._in_flight = False
        self._cursor = next_cursor
        self._exhausted = next_cursor is None
        rows = list(rows)
        if rows:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()
        self.loading.emit(False)

    @property
    def busy(self) -> bool:
        return self._in_flight

    @property
    def complete(self) -> bool:
        return self._exhausted and not self._in_flight

    def row_at(self, row: int) -> Any:
        return self.rows[row]
