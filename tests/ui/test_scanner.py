"""Keyboard-wedge scans are heard anywhere in the window; typing is left alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from station.labels.scan import Scan, ScanKind
from station.ui.scanner import ScanDetector

from .conftest import wedge

DID = "e00fce68a1b2c3d4e5f60718"


class Pane(QWidget):
    """A window with a text field and a key-counting widget, like a card that answers Y/N."""

    def __init__(self) -> None:
        super().__init__()
        self.field = QLineEdit()
        self.keys: list[str] = []
        self.field2 = QLineEdit()
        self.field2.setProperty("scannerRaw", True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.field)
        lay.addWidget(self.field2)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.keys.append(event.text())


@pytest.fixture
def pane(qtbot: QtBot) -> Iterator[tuple[Pane, ScanDetector, list[Scan], list[str]]]:
    w = Pane()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    det = ScanDetector(max_gap_ms=30)
    app = QApplication.instance()
    assert app is not None
    app.installEventFilter(det)
    scans: list[Scan] = []
    refused: list[str] = []
    det.scanned.connect(scans.append)
    det.unrecognised.connect(refused.append)
    yield w, det, scans, refused
    app.removeEventFilter(det)


def scan(qtbot: QtBot, target: QWidget, text: str) -> None:
    wedge(target, text)  # keys stamped 4 ms apart, then Enter: a scanner


def test_a_scan_into_a_focused_text_field_is_taken_and_leaves_no_text(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    w, _, scans, _ = pane
    w.field.setFocus()
    qtbot.waitUntil(w.field.hasFocus)
    scan(qtbot, w.field, f"{DID};PBO123456789ABC")
    assert [(s.kind, s.device_id, s.serial_number) for s in scans] == [(ScanKind.LABEL, DID, "PBO123456789ABC")]
    qtbot.wait(80)
    assert w.field.text() == ""


def test_a_scan_never_fires_single_key_actions(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    w, _, scans, _ = pane
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)
    scan(qtbot, w, "PNYABCDEFGH2345 SECRETSECRET123")  # a Particle sticker: starts with P, holds N and Y
    assert [(s.kind, s.serial_number) for s in scans] == [(ScanKind.PARTICLE_SERIAL, "PNYABCDEFGH2345")]
    qtbot.wait(80)
    assert w.keys == []


def test_typing_reaches_the_field_in_order(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    w, _, scans, _ = pane
    w.field.setFocus()
    qtbot.waitUntil(w.field.hasFocus)
    qtbot.keyClicks(w.field, "alice42", delay=80)  # a person: tens of ms between keys
    qtbot.keyClick(w.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.field.text() == "alice42")
    assert scans == []


def test_single_keys_still_reach_a_card(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    w, _, _, _ = pane
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)
    qtbot.keyClick(w, Qt.Key.Key_Y, delay=5)
    qtbot.waitUntil(lambda: w.keys == ["y"])


def test_an_unknown_code_is_refused_without_its_text(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    w, _, scans, refused = pane
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)
    scan(qtbot, w, "HELLO-WORLD-123")
    assert scans == [] and len(refused) == 1 and "HELLO" not in refused[0]


def test_a_raw_field_gets_the_scan_as_text(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    w, _, scans, _ = pane
    w.field2.setFocus()
    qtbot.waitUntil(w.field2.hasFocus)
    scan(qtbot, w.field2, "BADGE00042")
    assert scans == [] and w.field2.text() == "BADGE00042"


def test_a_scan_read_late_is_still_a_scan(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    """A loaded PC takes the window off the CPU mid-burst: the keys arrive 60 ms apart although
    the scanner sent them 4 ms apart. Their timestamps say when they were typed, and no Y or N
    inside the burst reaches the widget (on a card it would answer the question)."""
    import time

    w, _, scans, _ = pane
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)
    wedge(w, "PNYABCDEFGH2345 SECRETSECRET123", between=lambda i: time.sleep(0.06) if i == 3 else None)
    assert [(s.kind, s.serial_number) for s in scans] == [(ScanKind.PARTICLE_SERIAL, "PNYABCDEFGH2345")]
    qtbot.wait(80)
    assert w.keys == []


def test_keys_typed_apart_are_typing_however_fast_they_are_read(qtbot: QtBot, pane) -> None:  # type: ignore[no-untyped-def]
    """Keys a person typed 80 ms apart, read in one go after a stall, are still typing."""
    w, _, scans, _ = pane
    w.field.setFocus()
    qtbot.waitUntil(w.field.hasFocus)
    wedge(w.field, "alice42", gap_ms=80)
    qtbot.waitUntil(lambda: w.field.text() == "alice42")
    assert scans == []
