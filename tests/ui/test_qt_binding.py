"""The Qt binding itself: emitting a signal must not leak or steal references.

PySide6 6.12.0's ``SignalInstance.emit()`` returns ``True`` without taking a reference. On
Python 3.11, where ``True`` is an ordinary object, every emit lowers its refcount by one and a busy
window aborts the interpreter ("bool_dealloc") after a few thousand signals; pyproject excludes
that release. This test catches a binding with the same fault before the window does.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal, Slot
from pytestqt.qtbot import QtBot


class _Emitter(QObject):
    value = Signal(object, object)

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.value.connect(self.on_value)

    @Slot(object, object)
    def on_value(self, a: object, b: object) -> None:
        self.seen += 1


def test_emit_keeps_reference_counts(qtbot: QtBot) -> None:
    e = _Emitter()
    before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    for _ in range(300):
        e.value.emit(None, None)
    after = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    assert e.seen == 300
    assert all(abs(a - b) < 50 for a, b in zip(after, before, strict=True)), (before, after)
