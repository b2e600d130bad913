"""A device's full record, opened by a scan or from the history.

Everything the registry holds about one unit: who it is (IDs, serial, versions, IMEI/ICCID), where
it went (product, lot, cloud entries), and every attempt with its steps and durations, its
measurements against their limits and the modules it was flashed with, its labels and its audit
entries. The record is read in a worker; the dialog shows it when it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.cardmodel import step_title
from station.ui.fit import fit


def _s(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _titles(attempt: Any) -> dict[str, str]:
    """The attempt's functional tests by the titles its profile gave them (recorded with the
    ``functional-tests`` step, so a record shows what the card showed, whatever the profile is now)."""
    for st in _get(attempt, "steps", []) or []:
        details = _get(st, "details") or {}
        if _get(st, "name") == "functional-tests" and isinstance(details.get("titles"), dict):
            return {str(k): str(v) for k, v in details["titles"].items()}
    return {}


def titled(name: str | None, titles: dict[str, str]) -> str | None:
    """``Battery voltage (battery)``: what the operator read, and the name the profile and
    ``--answer`` use."""
    if not name:
        return name
    title = step_title(name, titles)
    return name if title == name else f"{title} ({name})"


def fill_table(table: QTableWidget, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = [list(r) for r in rows]
    table.clear()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            item = QTableWidgetItem(_s(v))
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


def _table() -> QTableWidget:
    t = QTableWidget()
    t.setAlternatingRowColors(True)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.verticalHeader().hide()
    t.horizontalHeader().setStretchLastSection(True)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return t


def _seconds(v: Any) -> str | None:
    return None if v is None else f"{float(v):.2f}"


def _duration(a: Any) -> str | None:
    start, end = _get(a, "started_at"), _get(a, "finished_at")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return f"{(end - start).total_seconds():.1f}"
    return None


def _cloud_state(c: Any) -> str:
    state = str(_get(c, "state") or "")
    return {"failed": "needs attention"}.get(state, state)


def _details(d: Any) -> str | None:
    if not d:
        return None
    if isinstance(d, dict):
        return ", ".join(f"{k}={v}" for k, v in d.items())
    return str(d)


def measurement_verdict(m: Any) -> str:
    """``3.92 V in 3.5…4.3`` — the value against its limits, as an engineer reads it."""
    value = _get(m, "value")
    text = _get(m, "text")
    unit = _get(m, "unit") or ""
    low, high, expected = _get(m, "low"), _get(m, "high"), _get(m, "expected")
    shown = f"{value:g} {unit}".strip() if isinstance(value, int | float) else (text or "—")
    if low is not None or high is not None:
        return f"{shown} in {'' if low is None else f'{low:g}'}…{'' if high is None else f'{high:g}'}"
    if expected is not None:
        return f"{shown} (expected {expected})"
    return shown


class RecordDialog(QDialog):
    printLabel = Signal(str)  # device ID

    def __init__(self, key: str, scale: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.record: Any = None
        self.setWindowTitle(f"Device {key}")
        fit(self, int(1250 * scale), int(720 * scale))
        self.heading = QLabel(f"Looking up {key}…")
        self.heading.setFont(theme.sans(theme.px(22, scale), bold=True))
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.summary = QWidget()
        self.form = QFormLayout(self.summary)
        self.attempts = _table()
        self.steps = _table()
        self.measurements = _table()
        self.modules = _table()
        self.attempts.itemSelectionChanged.connect(self._attempt_selected)
        self.attempt_rows: list[Any] = []
        detail = QTabWidget()
        detail.addTab(self.steps, "Steps")
        detail.addTab(self.measurements, "Measurements")
        detail.addTab(self.modules, "Flashed modules")
        self.detail = detail
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.attempts)
        split.addWidget(detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)  # a unit has a few attempts and a dozen steps: the steps get the room
        self.cloud = _table()
        self.labels = _table()
        self.audit = _table()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.summary, "Device")
        self.tabs.addTab(split, "Attempts")
        self.tabs.addTab(self.cloud, "Cloud")
        self.tabs.addTab(self.labels, "Labels")
        self.tabs.addTab(self.audit, "Audit")
        self.print_button = QPushButton("Print label…")
        self.print_button.setEnabled(False)
        self.print_button.clicked.connect(self._print)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.heading)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(box)

    # ------------------------------------------------------------------ filling
    def show_error(self, message: str) -> None:
        self.heading.setText(f"{self.key}")
        self.status.setText(message)
        self.status.setStyleSheet("color: #A00000; font-weight: bold;")

    def show_record(self, rec: Any, note: str | None = None) -> None:
        """``rec`` is the registry's :class:`~station.store.views.DeviceDetail` (attempts carry their
        steps, measurements, flashes and labels); ``note`` what the lookup noticed about the label."""
        self.record = rec
        did = _get(rec, "device_id")
        self.setWindowTitle(f"Device {did}")
        attempts = list(_get(rec, "attempts", []) or [])
        self.attempt_rows = [_get(a, "row") or a for a in attempts]
        last = self.attempt_rows[-1] if attempts else None
        outcome = _get(last, "outcome") if last is not None else None
        self.heading.setText(f"{did}  ·  {(_get(rec, 'product') or 'not registered')}"
                             + (f"  ·  last result: {outcome}" if outcome else ""))
        self.status.setText(note or "")
        self.status.setStyleSheet(f"color: {theme.ERROR_TEXT}; font-weight: bold;" if note else "")
        while self.form.rowCount():
            self.form.removeRow(0)
        for caption, name in (("Device ID", "device_id"), ("Serial number", "serial_number"),
                              ("Platform", "platform"), ("Product", "product"), ("Lot", "lot"),
                              ("Registered", "registered_at"), ("Device OS", "device_os_version"),
                              ("Product firmware", "product_firmware_version"), ("IMEI", "imei"),
                              ("ICCID", "iccid")):
            value = QLabel(_s(_get(rec, name)))
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(caption, value)
        # what an operator looks for first (the result and why) on the left, where no scrolling hides it
        fill_table(self.attempts, ["#", "Result", "Failed step", "Reason", "Started", "Seconds", "Operator", "Via",
                                   "Station / slot", "Lot"],
                   ([_get(a, "attempt_id"), _get(a, "outcome"), titled(_get(a, "failing_step"), _titles(full)),
                     _get(a, "reason"),
                     _get(a, "started_at"), _duration(a), _get(a, "operator"), _get(a, "transport"),
                     f"{_get(a, 'station')}/{_get(a, 'slot')}", _get(a, "lot")]
                    for a, full in zip(self.attempt_rows, attempts, strict=True)))
        fill_table(self.cloud, ["Cloud", "Stage", "State", "Tries", "Reason", "Queued", "Next try", "Done"],
                   ([_get(c, "target"), _get(c, "stage"), _cloud_state(c), _get(c, "tries"), _get(c, "last_error"),
                     _get(c, "created_at"), None if _get(c, "done_at") else _get(c, "next_try_at"),
                     _get(c, "done_at")] for c in _get(rec, "cloud", []) or []))
        labels = [lb for a in attempts for lb in (_get(a, "labels", []) or [])] or list(_get(rec, "labels", []) or [])
        fill_table(self.labels, ["File", "Format", "Printed", "Attempt"],
                   (([lb] + [None] * 3) if isinstance(lb, str) else
                    [_get(lb, "path"), _get(lb, "format"), _get(lb, "printed_at"), _get(lb, "attempt_id")]
                    for lb in labels))
        fill_table(self.audit, ["When", "Action", "Who", "Role", "Granted", "Reason", "Station", "Details"],
                   ([_get(e, "at"), _get(e, "action"), _get(e, "operator"), _get(e, "role"),
                     {True: "yes", False: "refused", None: ""}.get(_get(e, "granted")), _get(e, "reason"),
                     _get(e, "station"), _details(_get(e, "details"))]
                    for e in _get(rec, "audit", []) or []))
        self.tabs.setTabText(2, f"Cloud ({self.cloud.rowCount()})")
        self.tabs.setTabText(3, f"Labels ({self.labels.rowCount()})")
        self.tabs.setTabText(4, f"Audit ({self.audit.rowCount()})")
        self.print_button.setEnabled(bool(did))
        if attempts:
            self.attempts.selectRow(len(attempts) - 1)
        self.tabs.setCurrentIndex(1 if attempts else 0)

    def _attempt_selected(self) -> None:
        rows = {i.row() for i in self.attempts.selectedIndexes()}
        attempts = list(_get(self.record, "attempts", []) or [])
        if not rows or not attempts:
            return
        a = attempts[min(rows)]
        steps = list(_get(a, "steps", []) or [])
        fill_table(self.steps, ["Step", "Result", "Started", "Seconds", "Reason"],
                   ([_get(st, "name"), _get(st, "outcome"), _get(st, "started_at"), _seconds(_get(st, "duration_s")),
                     _get(st, "reason")] for st in steps))
        measurements = list(_get(a, "measurements", []) or [])
        titles = _titles(a)
        fill_table(self.measurements, ["Step", "Measurement", "Reading against limits", "Result", "Try"],
                   ([titled(_get(m, "step"), titles), _get(m, "name"), measurement_verdict(m),
                     "pass" if _get(m, "passed") else "FAIL", _get(m, "try_number") or _get(m, "try")]
                    for m in measurements))
        modules = list(_get(a, "flashes", None) or _get(a, "modules", []) or [])
        fill_table(self.modules, ["Role", "Version", "Address", "SHA-256"],
                   ([_get(m, "role"), _get(m, "version"),
                     f"0x{_get(m, 'address'):08x}" if isinstance(_get(m, "address"), int) else _get(m, "address"),
                     _get(m, "module_sha256") or _get(m, "sha256")] for m in modules))
        self.detail.setTabText(0, f"Steps ({len(steps)})")
        self.detail.setTabText(1, f"Measurements ({len(measurements)})")
        self.detail.setTabText(2, f"Flashed modules ({len(modules)})")

    def _print(self) -> None:
        did = _get(self.record, "device_id")
        if did:
            self.printLabel.emit(did)
