"""A barcode scanner used as a keyboard (a "keyboard wedge"), heard anywhere in the window.

A wedge types its code as key presses a few milliseconds apart and ends with Enter; a person
types tens of milliseconds apart. The detector sits on the application's event stream, holds
printable keys for one inter-key gap and decides:

* keys that keep coming faster than ``max_gap`` and end with Enter are a **scan**: they are
  swallowed (nothing lands in whatever field had the focus, no card key fires) and, when
  :func:`~station.labels.scan.parse_scan` recognises them, ``scanned`` carries the result;
* anything else is **typing**: the held keys are delivered, in order, to the widget each was
  pressed on, a gap later than they were pressed (30 ms: below what a person notices).

A held key goes to the widget it was pressed on, never to whatever has the focus when it is let
go: in those 30 ms a prompt may close and hand the focus to another slot's prompt, and a Y meant
for slot 1 must not answer slot 2. A key whose widget is gone by then is dropped.

Holding every key, rather than letting the first one through and taking it back later, matters on
the board: a Particle serial starts with "P", and a card's prompt answers single keys.
A field that wants the raw text of a scan (a badge-ID login field) sets the Qt property
``scannerRaw`` to true; the detector then leaves its keys alone.

The gap between two keys is taken from the window system's timestamps of the key events when
both have one (``QInputEvent.timestamp()``: milliseconds stamped by the X server or Wayland
compositor when the key arrived, https://doc.qt.io/qt-6/qinputevent.html#timestamp), not from
the clock when this process gets round to reading them: on a loaded station PC the window can
be off the CPU for a few hundred milliseconds in the middle of a burst (measured: 8 of 9,000
synthesised key gaps over 30 ms at load 15 on 2 cores, the longest 305 ms), which split one
scan into "typing" and let a Y or N from inside it answer a card's question. Events without a
timestamp (0: synthesised ones) fall back to the monotonic clock at delivery.

The raw text may hold a secret (Particle's sticker carries the mobile secret after the serial),
so it is never emitted, logged or kept: only the parsed :class:`~station.labels.scan.Scan` leaves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QWindow
from PySide6.QtWidgets import QApplication, QWidget
from shiboken6 import isValid

from station.labels.scan import parse_scan

_ENTER = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_COMMAND_MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier
)


@dataclass(frozen=True)
class _Held:
    key: int
    modifiers: Qt.KeyboardModifier
    text: str
    target: QWidget  # the widget it was pressed on (the focus widget then)


class ScanDetector(QObject):
    """Install on the application: ``QApplication.instance().installEventFilter(detector)``."""

    scanned = Signal(object)  # station.labels.scan.Scan
    unrecognised = Signal(str)  # why (never the scanned text)

    def __init__(self, parent: QObject | None = None, *, max_gap_ms: int = 30, min_length: int = 6) -> None:
        super().__init__(parent)
        self.max_gap = max_gap_ms / 1000
        self.min_length = min_length
        self.enabled = True
        self._held: list[_Held] = []
        self._last = 0.0
        self._last_stamp = 0  # the window system's timestamp (ms) of the last held key; 0: none
        self._replaying = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(max_gap_ms + 5)
        self._flush_timer.timeout.connect(self.flush)

    # ------------------------------------------------------------------ filter
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if self._replaying or not self.enabled or event.type() != QEvent.Type.KeyPress:
            return False
        if isinstance(obj, QWindow) or not self._first_receiver(obj):
            return False
        assert isinstance(event, QKeyEvent)
        if obj.property("scannerRaw"):
            return False
        now, stamp = time.monotonic(), event.timestamp()
        gap = self._gap(now, stamp)
        if event.key() in _ENTER:
            return self._enter(gap)
        text = event.text()
        printable = len(text) == 1 and text.isprintable() and not (event.modifiers() & _COMMAND_MODIFIERS)
        if not printable or event.isAutoRepeat():
            self.flush()  # keep the order: what was held goes before this key
            return False
        if self._held and gap > self.max_gap:
            self.flush()  # a pause: what came before was typed
        assert isinstance(obj, QWidget)  # _first_receiver
        self._held.append(_Held(event.key(), event.modifiers(), text, obj))
        self._last, self._last_stamp = now, stamp
        self._flush_timer.start()
        return True

    @staticmethod
    def _first_receiver(obj: QObject) -> bool:
        """Each key press is seen once: at the focus widget (or the window, when nothing has
        focus), not again as it propagates to parents."""
        if not isinstance(obj, QWidget):
            return False
        focus = QApplication.focusWidget()
        return obj is focus if focus is not None else obj.isWindow()

    def _gap(self, now: float, stamp: int) -> float:
        """Seconds since the last held key was pressed: by the keys' own timestamps when both
        have one (and they run forwards: X server time wraps after 49 days), else by when this
        process read them."""
        if stamp and self._last_stamp and stamp >= self._last_stamp:
            return (stamp - self._last_stamp) / 1000
        return now - self._last

    def _enter(self, gap: float) -> bool:
        fast = self._held and gap <= self.max_gap * 2
        if not fast or len(self._held) < self.min_length:
            self.flush()
            return False
        text = "".join(h.text for h in self._held)
        try:
            scan = parse_scan(text)
        except ValueError as exc:
            if self._focus_is_text_field():
                self.flush()  # a fast typist in a text field: give them their text
                return False
            self._held.clear()
            self.unrecognised.emit(str(exc))
            return True
        self._held.clear()
        self._flush_timer.stop()
        self.scanned.emit(scan)
        return True

    # ------------------------------------------------------------------ delivery
    def flush(self) -> None:
        """Deliver held keys to the widgets they were pressed on, as if they had just been typed."""
        self._flush_timer.stop()
        held, self._held = self._held, []
        self._replaying = True
        try:
            for h in held:
                if not isValid(h.target):
                    continue  # its widget was deleted meanwhile: no other widget gets the key
                QApplication.sendEvent(h.target, QKeyEvent(QEvent.Type.KeyPress, h.key, h.modifiers, h.text))
                if isValid(h.target):  # the press may have closed it
                    QApplication.sendEvent(h.target, QKeyEvent(QEvent.Type.KeyRelease, h.key, h.modifiers, h.text))
        finally:
            self._replaying = False

    @staticmethod
    def _focus_is_text_field() -> bool:
        from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit, QPlainTextEdit, QTextEdit

        return isinstance(QApplication.focusWidget(), QLineEdit | QTextEdit | QPlainTextEdit | QAbstractSpinBox)
