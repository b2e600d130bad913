"""The log pane's model: every slot's lines in one bounded table, filtered per slot by a proxy.

Lines come from two sources, both through the bridge: the run's events (a step started, finished,
a result) and the core's Python logging (a warning from a slot thread). Each line carries its
slot, so the operator can look at one slot's story without the other seven in between. The table
keeps the newest ``max_rows`` lines: a shift of eight slots must not grow without bound.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

Index = QModelIndex | QPersistentModelIndex
#: the invisible root (a default argument evaluated once, as Qt's own signatures mean it)
ROOT = QModelIndex()

SLOT_ROLE = Qt.ItemDataRole.UserRole + 1
LEVEL_ROLE = Qt.ItemDataRole.UserRole + 2

ALL_SLOTS = ""  # the filter value that shows every slot


@dataclass(frozen=True)
class LogLine:
    t: float
    slot: str  # "" for station-wide lines
    level: int
    text: str


class LogModel(QAbstractTableModel):
    HEADERS = ("Time", "Slot", "Level", "Message")

    def __init__(self, parent: QObject | None = None, *, max_rows: int = 5000) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self.lines: list[LogLine] = []

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.lines)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < 4:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self.lines)):
            return None
        line = self.lines[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return time.strftime("%H:%M:%S", time.localtime(line.t))
            if col == 1:
                return line.slot
            if col == 2:
                return logging.getLevelName(line.level).lower()
            if col == 3:
                return line.text
        elif role == SLOT_ROLE:
            return line.slot
        elif role == LEVEL_ROLE:
            return line.level
        elif role == Qt.ItemDataRole.ForegroundRole and line.level >= logging.WARNING:
            return QColor("#8A3B00" if line.level < logging.ERROR else "#A00000")
        elif role == Qt.ItemDataRole.ToolTipRole and col == 3:
            return line.text
        return None

    # ------------------------------------------------------------------ feeding
    def append(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        lines = lines[-self.max_rows:]
        overflow = len(self.lines) + len(lines) - self.max_rows
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self.lines[:overflow]
            self.endRemoveRows()
        first = len(self.lines)
        self.beginInsertRows(QModelIndex(), first, first + len(lines) - 1)
        self.lines.extend(lines)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.lines = []
        self.endResetModel()


def event_line(ev: Any) -> LogLine | None:
    """A log line for the run events worth reading later (not every progress tick)."""
    kind = str(getattr(ev, "kind", ""))
    slot = str(getattr(ev, "slot", ""))
    t = float(getattr(ev, "t", time.time()))
    step = getattr(ev, "step", None)
    if kind == "attempt_started":
        return LogLine(t, slot, logging.INFO, f"attempt started on device {ev.device_id}")
    if kind == "step_finished":
        outcome = getattr(ev, "outcome", "") or ""
        msg = getattr(ev, "message", "") or ""
        level = logging.INFO if outcome == "passed" else logging.WARNING
        return LogLine(t, slot, level, f"{step}: {outcome}" + (f": {msg}" if msg else ""))
    if kind == "attempt_finished":
        outcome = getattr(ev, "outcome", "") or ""
        msg = getattr(ev, "message", "") or ""
        level = logging.INFO if outcome in ("passed", "skipped") else logging.WARNING
        where = f" at {step}" if step else ""
        return LogLine(t, slot, level, f"result: {outcome}{where}" + (f": {msg}" if msg else ""))
    if kind in ("prompt", "prompt_opened"):
        return LogLine(t, slot, logging.INFO, f"asks the operator: {getattr(ev, 'message', '')}")
    if kind == "log":
        return LogLine(t, slot, logging.INFO, getattr(ev, "message", ""))
    return None


class SlotFilter(QSortFilterProxyModel):
    """Show one slot's lines (plus station-wide ones), or every line, at or above a level."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.slot = ALL_SLOTS
        self.min_level = logging.DEBUG

    def set_slot(self, slot: str) -> None:
        self.slot = slot
        refilter(self)

    def set_min_level(self, level: int) -> None:
        self.min_level = level
        refilter(self)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        idx = model.index(source_row, 0, source_parent)
        slot = model.data(idx, SLOT_ROLE)
        level = model.data(idx, LEVEL_ROLE) or 0
        if level < self.min_level:
            return False
        return self.slot == ALL_SLOTS or slot in (self.slot, "")


def refilter(proxy: QSortFilterProxyModel) -> None:
    """Re-run a proxy's filter (``invalidateFilter`` before Qt 6.9's begin/endFilterChange)."""
    if hasattr(proxy, "beginFilterChange"):
        proxy.beginFilterChange()
        proxy.endFilterChange()
    else:  # pragma: no cover - Qt < 6.9
        proxy.invalidateFilter()
