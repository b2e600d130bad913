"""Role limits on the board: an operator cannot recover a locked chip or change the profile (headless)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from station.ui.cardmodel import CardState

from .conftest import Station
from .test_login import add_users, audit, scan_badge_and_tap_pin


def locked_station(qtbot: QtBot, station: Station, badge: str, pin: str) -> Any:
    add_users(station)
    twin = station.bench.create_one("locked-gui", approtect=True)
    w = station.open(twins=[twin])
    scan_badge_and_tap_pin(qtbot, w, badge, pin)
    qtbot.waitUntil(lambda: w.role is not None, timeout=10_000)
    qtbot.mouseClick(station.card("1").start_button, Qt.MouseButton.LeftButton)
    card = station.wait_state("1", CardState.FAIL, CardState.ERROR, CardState.PASS)
    assert card.view.state is CardState.FAIL and card.view.failing_step == "identify", card.view.reason
    return w


def test_an_operator_cannot_recover_a_locked_chip_and_is_told_why(qtbot: QtBot, station: Station) -> None:
    w = locked_station(qtbot, station, "B-1001", "1234")
    card = station.card("1")
    assert "locked" in card.reason_label.text()
    button = card.recover_button
    assert button.isVisible() and not button.allowed and button.text() == "Recover chip"
    assert not button.icon().isNull()  # the drawn padlock
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.explanation is not None and w.explanation.isVisible())
    assert "recovering a locked chip" in w.explanation.text() and "engineer" in w.explanation.text()
    assert w.recover_dialog is None, "no way to confirm the erase was offered"
    qtbot.waitUntil(lambda: len(audit(w, "recover-locked-chip")) == 1, timeout=5000)
    [row] = audit(w, "recover-locked-chip")
    assert (row.operator, row.role, row.granted) == ("olga", "operator", False)
    # asking the window directly is refused too (the check is repeated, not only the button locked)
    assert w.recover_slot("1") is None
    assert station.card("1").view.state is CardState.FAIL
    w.explanation.accept()


def test_an_operator_cannot_change_the_profile(qtbot: QtBot, station: Station) -> None:
    add_users(station)
    w = station.open(0)
    scan_badge_and_tap_pin(qtbot, w, "B-1001", "1234")
    qtbot.waitUntil(lambda: w.role == "operator", timeout=10_000)
    before = w.job.profile.path
    assert not w.profile_button.allowed
    qtbot.mouseClick(w.profile_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.explanation is not None and w.explanation.isVisible())
    assert "profile" in w.explanation.text()
    assert w.profile_dialog is None
    w.use_profile(str(before))  # not through the button either
    qtbot.waitUntil(lambda: len(audit(w, "edit-profile")) == 2, timeout=5000)
    assert [r.granted for r in audit(w, "edit-profile")] == [False, False]
    assert w.job.profile.path == before
    w.explanation.accept()


def test_an_engineer_recovers_with_a_recorded_reason(qtbot: QtBot, station: Station) -> None:
    w = locked_station(qtbot, station, "eve", "5678")
    button = station.card("1").recover_button
    assert button.isVisible() and button.allowed
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.recover_dialog is not None and w.recover_dialog.isVisible())
    dialog = w.recover_dialog
    assert "erases the whole chip" in dialog.labelText()
    dialog.setTextValue("returned unit, customer locked it")
    dialog.accept()
    qtbot.waitUntil(lambda: any(r.granted and r.reason for r in audit(w, "recover-locked-chip")), timeout=10_000)
    row = next(r for r in audit(w, "recover-locked-chip") if r.granted and r.reason)
    assert (row.operator, row.role, row.reason) == ("eve", "engineer", "returned unit, customer locked it")
    # The confirmation reached the core: the rerun no longer lacks an engineer's word. The demo
    # profile does not allow a recovery, so the core still refuses the erase, and says why.
    card = station.card("1")
    qtbot.waitUntil(lambda: card.view.finished and "engineer must confirm" not in card.view.reason, timeout=90_000)
    assert card.view.state is CardState.FAIL and "profile does not allow" in card.view.reason
