"""The card: the state word on screen and in its accessible name, prompts answered on this card only."""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from station.ui.cardmodel import CardState, PromptView, SlotView
from station.ui.slotcard import SlotCard


def make(qtbot: QtBot, slot: str = "1") -> SlotCard:
    card = SlotCard(SlotView(slot, title=f"Slot {slot}", transport="swd"))
    qtbot.addWidget(card)
    card.resize(360, 340)
    card.show()
    qtbot.waitExposed(card)
    return card


def test_card_shows_the_result_in_words_and_to_a_screen_reader(qtbot: QtBot) -> None:
    card = make(qtbot)
    v = card.view
    v.begin()
    v.step_started("flash")
    v.finish("failed", failing_step="flash", reason="the device stopped answering")
    card.refresh()
    assert card.banner.word == "FAIL"
    assert card.accessibleName().startswith("Slot 1. FAIL")
    assert card.reason_label.text() == "the device stopped answering"
    assert card.retry_button.isEnabled() and not card.stop_button.isEnabled()


def test_fail_and_error_banners_paint_differently(qtbot: QtBot) -> None:
    a, b = make(qtbot, "1"), make(qtbot, "2")
    for card, fault in ((a, False), (b, True)):
        card.view.finish("failed", failing_step="flash", reason="x", station_fault=fault)
        card.refresh()
    assert (a.view.state, b.view.state) == (CardState.FAIL, CardState.ERROR)
    assert a.banner.grab().toImage() != b.banner.grab().toImage()


def _with_prompt(qtbot: QtBot, slot: str, pid: str) -> SlotCard:
    card = make(qtbot, slot)
    card.view.begin()
    card.view.step_started("functional-tests")
    card.view.prompt = PromptView(pid, "Is the status LED green?", ("yes", "no"), 30.0)
    card.refresh()
    return card


def test_keys_answer_the_focused_cards_prompt_only(qtbot: QtBot) -> None:
    one, two = _with_prompt(qtbot, "1", "p-1"), _with_prompt(qtbot, "2", "p-2")
    answers: list[tuple[str, str, str]] = []
    one.answered.connect(lambda *a: answers.append(a))
    two.answered.connect(lambda *a: answers.append(a))
    two.activateWindow()
    two.setFocus()
    qtbot.waitUntil(two.hasFocus)
    qtbot.keyClick(two, Qt.Key.Key_N)
    assert answers == [("2", "p-2", "no")]
    qtbot.keyClick(two, Qt.Key.Key_Y)  # already answered: a second key does nothing
    assert answers == [("2", "p-2", "no")]


def test_touch_answers_with_the_button(qtbot: QtBot) -> None:
    card = _with_prompt(qtbot, "3", "p-3")
    answers: list[tuple[str, str, str]] = []
    card.answered.connect(lambda *a: answers.append(a))
    yes = next(b for b in card.prompt_panel.buttons if b.property("choice") == "yes")
    qtbot.mouseClick(yes, Qt.MouseButton.LeftButton)
    assert answers == [("3", "p-3", "yes")]


def test_countdown_is_visible(qtbot: QtBot) -> None:
    card = _with_prompt(qtbot, "4", "p-4")
    card.view.prompt.opened_at -= 12.2  # type: ignore[union-attr]
    card.tick()
    assert card.prompt_panel.countdown_label.text() == "18 s"
    assert 550 < card.prompt_panel.countdown.value() < 650


def test_progress_and_events_repaint_with_the_loop_not_inside_the_handler(qtbot: QtBot) -> None:
    """A synchronous repaint inside an event handler paints the whole window there and then (what
    QProgressBar.setValue does): with eight slots flashing that stalled the loop for 0.7-1 s."""
    card = make(qtbot)
    painted: list[str] = []
    for name in ("banner", "chip_row", "step_bar"):
        widget = getattr(card, name)
        original = widget.paintEvent
        widget.paintEvent = lambda ev, n=name, o=original: (painted.append(n), o(ev))  # type: ignore[method-assign]
    v = card.view
    v.set_plan([("connect", "Connecting"), ("flash", "Writing firmware")])
    v.begin()
    v.step_started("flash")
    card.refresh()
    qtbot.wait(20)
    painted.clear()
    for i in range(1, 50):
        v.step_progress("flash", i / 50)
        card.show_progress()
        v.step_finished("connect", "passed")
        card.refresh()
    assert painted == [], "a card repainted inside the handler"
    qtbot.waitUntil(lambda: "step_bar" in painted)
    assert painted.count("step_bar") <= 3 and card.step_bar.value() == 980


def test_an_error_headline_reads_as_large_as_a_fail_one(qtbot: QtBot) -> None:
    """ERROR is read from two metres like FAIL: its headline is drawn no smaller, and inside the
    striped edge (the stripes are ERROR's texture, not a background under its words)."""
    fail, error = make(qtbot, "1"), make(qtbot, "2")
    fail.view.titles["battery"] = "Battery voltage"
    fail.view.finish("failed", failing_step="battery", reason="battery: 3.10 V is below the minimum 3.50 V")
    for (w, h), fault in itertools.product(((360, 340), (330, 270)), ("device-gone", "registry-unavailable", "internal")):
        fail.resize(w, h)
        error.resize(w, h)
        error.view.finish("error", failing_step="flash", reason="erasing: the probe or device disconnected",
                          station_fault=True, fault=fault)
        for card in (fail, error):
            card.refresh()
        _, fail_word, _, _, _, fail_px, fail_fits = fail.banner._layout()
        _, err_word, _, head, r, err_px, err_fits = error.banner._layout()
        assert error.banner.word == "ERROR" and err_word == fail_word
        assert fail_fits and err_fits and err_px >= fail_px, (w, h, error.view.headline, err_px, fail_px)
        band = error.banner._band(r)
        assert band > 0 and head.left() >= r.left() + band and head.right() <= r.right() - band
        assert error.banner.clipped_text() == []
    assert fail.reason_label.text() == "3.10 V is below the minimum 3.50 V"
    assert error.reason_label.text() == "While writing firmware — erasing: the probe or device disconnected"
