"""Keys answer the prompt of the slot the operator is on, never another slot's (issue 12).

The board and the window's label detector (the keyboard-wedge scanner, which holds printable keys
for a gap) are the real ones; the core is replaced by a list of the answers the board sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from station.ui.board import SlotBoard
from station.ui.cardmodel import PromptView
from station.ui.scanner import ScanDetector

from .conftest import wedge


@dataclass
class Rig:
    board: SlotBoard
    detector: ScanDetector
    answers: list[tuple[str, str, str]]

    def ask(self, slot: str) -> None:
        self.board.show_prompt(slot, PromptView(f"p{slot}", f"Is slot {slot}'s LED green?", timeout_s=30))

    def card(self, slot: str) -> QWidget:
        card = self.board.card(slot)
        assert card is not None
        return card


@pytest.fixture
def rig(qtbot: QtBot) -> Iterator[Rig]:
    board = SlotBoard()
    qtbot.addWidget(board)
    board.set_slots([(s, s, "swd") for s in ("1", "2", "3")])
    board.resize(1200, 500)
    board.show()
    qtbot.waitExposed(board)
    board.activateWindow()
    qtbot.waitActive(board)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    detector = ScanDetector(board, max_gap_ms=30)
    app = QApplication.instance()
    assert app is not None
    app.installEventFilter(detector)
    answers: list[tuple[str, str, str]] = []
    board.answered.connect(lambda slot, pid, choice: answers.append((slot, pid, choice)))
    yield Rig(board, detector, answers)
    app.removeEventFilter(detector)


def key(qtbot: QtBot, k: Qt.Key) -> None:
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, k)


def test_y_answers_the_focused_slot_and_leaves_the_other_open(qtbot: QtBot, rig: Rig) -> None:
    rig.ask("1")
    rig.ask("2")
    assert rig.card("1").hasFocus()  # the first prompt took the focus; the second did not move it
    key(qtbot, Qt.Key.Key_Y)
    qtbot.waitUntil(lambda: bool(rig.answers))
    qtbot.wait(80)
    assert rig.answers == [("1", "p1", "yes")]


def test_a_quick_y_after_another_key_still_answers(qtbot: QtBot, rig: Rig) -> None:
    rig.ask("1")
    rig.ask("2")
    rig.card("2").setFocus()
    qtbot.waitUntil(rig.card("2").hasFocus)
    key(qtbot, Qt.Key.Key_X)  # no delay: both are held together as a possible scan
    key(qtbot, Qt.Key.Key_Y)
    qtbot.waitUntil(lambda: bool(rig.answers))
    qtbot.wait(80)
    assert rig.answers == [("2", "p2", "yes")]


def test_a_held_y_never_lands_on_the_prompt_that_took_the_focus_meanwhile(qtbot: QtBot, rig: Rig) -> None:
    rig.ask("1")
    rig.ask("2")
    key(qtbot, Qt.Key.Key_Y)  # meant for slot 1; the detector holds it for a gap
    rig.board.close_prompt("1", "p1")  # ...in which slot 1's prompt times out: the focus goes to slot 2
    assert rig.card("2").hasFocus()
    qtbot.wait(100)
    assert rig.answers == []  # slot 2's question was never seen by the operator: still open
    assert rig.board.card("2").view.prompt is not None  # type: ignore[union-attr]


def test_enter_on_an_answer_button_keeps_the_focus_on_its_own_slot(qtbot: QtBot, rig: Rig) -> None:
    rig.ask("1")
    rig.ask("3")
    card = rig.board.card("1")
    assert card is not None
    yes = card.prompt_panel.buttons[0]
    while QApplication.focusWidget() is not yes:  # the operator tabs to slot 1's YES
        key(qtbot, Qt.Key.Key_Tab)
    key(qtbot, Qt.Key.Key_Return)
    key(qtbot, Qt.Key.Key_Return)  # a double press (or a bouncing key) before the core closes the prompt
    qtbot.wait(80)
    assert rig.answers == [("1", "p1", "yes")]
    rig.board.close_prompt("1", "p1")
    assert rig.card("3").hasFocus()  # on to the prompt still open
    key(qtbot, Qt.Key.Key_Y)
    qtbot.waitUntil(lambda: len(rig.answers) == 2)
    assert rig.answers[1] == ("3", "p3", "yes")


@pytest.mark.parametrize("burst", ["PNYABCDEFGH2345 SECRETSECRET123", "YYYYNNNNYYYY"])
def test_a_scanner_burst_never_answers_an_open_prompt(qtbot: QtBot, rig: Rig, burst: str) -> None:
    rig.ask("1")
    target = QApplication.focusWidget()
    assert target is rig.card("1")
    wedge(target, burst)  # characters a scanner's few milliseconds apart, then Enter
    qtbot.wait(100)
    assert rig.answers == []
    key(qtbot, Qt.Key.Key_N)  # the prompt still takes the operator's own key
    qtbot.waitUntil(lambda: bool(rig.answers))
    assert rig.answers == [("1", "p1", "no")]


def test_a_prompt_opening_behind_a_dialog_does_not_take_the_first_prompts_focus(qtbot: QtBot, rig: Rig) -> None:
    rig.ask("1")
    dialog = QDialog(rig.board)
    dialog.setLayout(None)
    close = QPushButton("Close", dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitActive(dialog)
    close.setFocus()
    qtbot.waitUntil(close.hasFocus)  # the keyboard is in the dialog (a record, the settings...)
    rig.ask("2")
    dialog.close()
    rig.board.activateWindow()
    qtbot.waitActive(rig.board)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    assert QApplication.focusWidget() is rig.card("1")
    key(qtbot, Qt.Key.Key_Y)
    qtbot.waitUntil(lambda: bool(rig.answers))
    assert rig.answers == [("1", "p1", "yes")]
