"""The one bridge from the core to the widgets: core events and log records become Qt signals.

Slot threads call :meth:`EventBridge.__call__` (it is the session's event sink) and the logging
handler; both only append under a lock and emit a signal. The bridge is created on the GUI
thread, and the window connects its signals to *methods* of objects living there, so every
delivery is queued onto the GUI thread's event loop and no widget is touched from a slot thread.

Progress is the one high-rate event (a flash reports every page, eight slots at once). It is
coalesced: per slot only the newest progress is kept, and one "progress ready" signal stands for
any number of them until the GUI takes them. Every other event is delivered one by one, in the
order its slot emitted it; a slot's pending progress is delivered before its next other event,
so a step's progress never arrives after that step has finished.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal


class EventBridge(QObject):
    coreEvent = Signal(object)  # one core event (anything with .kind and .slot)
    progressReady = Signal()  # call take_progress() on the GUI thread
    logReady = Signal()  # call take_logs() on the GUI thread

    def __init__(self, parent: QObject | None = None, *, max_log_batch: int = 2000) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._progress: dict[str, Any] = {}
        self._progress_signalled = False
        self._logs: list[logging.LogRecord] = []
        self._logs_signalled = False
        self.max_log_batch = max_log_batch
        self.dropped_logs = 0

    # ------------------------------------------------------------------ from any thread
    def __call__(self, ev: Any) -> None:
        kind = str(getattr(ev, "kind", ""))
        slot = str(getattr(ev, "slot", ""))
        if kind == "step_progress":
            with self._lock:
                self._progress[slot] = ev
                signal = not self._progress_signalled
                self._progress_signalled = True
            if signal:
                self.progressReady.emit()
            return
        with self._lock:
            pending = self._progress.pop(slot, None)
        if pending is not None:
            self.coreEvent.emit(pending)
        self.coreEvent.emit(ev)

    def log(self, record: logging.LogRecord) -> None:
        with self._lock:
            if len(self._logs) >= self.max_log_batch:
                self._logs.pop(0)  # the GUI is behind: keep the newest, count the rest
                self.dropped_logs += 1
            self._logs.append(record)
            signal = not self._logs_signalled
            self._logs_signalled = True
        if signal:
            self.logReady.emit()

    # ------------------------------------------------------------------ on the GUI thread
    def take_progress(self) -> list[Any]:
        with self._lock:
            out = list(self._progress.values())
            self._progress.clear()
            self._progress_signalled = False
        return out

    def take_logs(self) -> list[logging.LogRecord]:
        with self._lock:
            out, self._logs = self._logs, []
            self._logs_signalled = False
        return out


class BridgeLogHandler(logging.Handler):
    """Python logging (the core's loggers) into the window's log pane, through the bridge."""

    def __init__(self, bridge: EventBridge, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.log(record)
        except RuntimeError:  # the bridge's QObject is gone (window closed): drop the record
            pass
