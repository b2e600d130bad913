"""Logging in at the window and what each role may do there, against the registry's users (headless)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from station.store.registry import open_registry
from station.ui.cardmodel import CardState

from .conftest import Station


def add_users(station: Station) -> None:
    reg = open_registry(station.db_url)
    try:
        reg.add_user("olga", "operator", "1234", badge="B-1001", by="setup", station="gui-test")
        reg.add_user("eve", "engineer", "5678", by="setup", station="gui-test")
    finally:
        reg.close()


def audit(w: Any, action: str) -> list[Any]:
    return list(w.session.registry.audit_page(action=action).rows)


def login_dialog(qtbot: QtBot, w: Any) -> Any:
    qtbot.waitUntil(lambda: w.login_dialog is not None and w.login_dialog.isVisible(), timeout=5000)
    return w.login_dialog


def scan_badge_and_tap_pin(qtbot: QtBot, w: Any, badge: str, pin: str) -> Any:
    """As a gloved operator does it: the badge scanner types into the focused field, the PIN on the keypad."""
    dialog = login_dialog(qtbot, w)
    qtbot.waitUntil(dialog.who.hasFocus)
    qtbot.keyClicks(QApplication.focusWidget(), badge)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert dialog.pin.hasFocus(), "the scanner's Enter moves on to the PIN"
    for digit in pin:
        qtbot.mouseClick(dialog.keys[digit], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.keys["OK"], Qt.MouseButton.LeftButton)
    return dialog


def test_nobody_logged_in_may_nothing_and_a_badge_with_pin_logs_in(qtbot: QtBot, station: Station) -> None:
    add_users(station)
    w = station.open(1)
    assert w.role is None and w.topbar.operator_button.text() == "Log in"
    dialog = login_dialog(qtbot, w)  # the window asks at once: nobody may run a lot yet
    dialog.reject()
    w.start_all()
    assert station.card("1").view.state is CardState.WAITING
    assert "log in" in w.message.text().lower()
    scan_badge_and_tap_pin(qtbot, w, "B-1001", "1234")
    qtbot.waitUntil(lambda: w.role == "operator", timeout=10_000)
    assert w.login_dialog is None, "the dialog closes once the login is accepted"
    assert w.operator == "olga" and w.topbar.operator_button.text() == "olga · operator"
    assert w.job.operator == "olga", "attempts from now on are recorded under who is logged in"
    [row] = audit(w, "login")
    assert (row.operator, row.role, row.granted) == ("olga", "operator", True)
    assert "1234" not in repr(row)


def test_a_wrong_pin_is_refused_and_cleared(qtbot: QtBot, station: Station) -> None:
    add_users(station)
    w = station.open(0)
    dialog = scan_badge_and_tap_pin(qtbot, w, "olga", "9999")
    qtbot.waitUntil(lambda: "wrong name, badge or PIN" in dialog.message.text(), timeout=10_000)
    assert dialog.isVisible() and dialog.pin.text() == "" and w.role is None
    [row] = audit(w, "login")
    assert (row.operator, row.granted, row.reason) == ("olga", False, "wrong PIN")


def test_an_operator_may_not_retry_parked_entries_and_the_refusal_is_recorded(
        qtbot: QtBot, station: Station) -> None:
    add_users(station)
    w = station.open(0)
    scan_badge_and_tap_pin(qtbot, w, "B-1001", "1234")
    qtbot.waitUntil(lambda: w.role == "operator", timeout=10_000)
    button = w.cloud_panel.retry_button
    assert not button.allowed and not button.icon().isNull()
    w.tabs.setCurrentWidget(w.cloud_panel)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.explanation is not None and w.explanation.isVisible())
    assert "engineer" in w.explanation.text() and "operator" in w.explanation.text()
    qtbot.waitUntil(lambda: len(audit(w, "retry-parked")) == 1, timeout=5000)
    [row] = audit(w, "retry-parked")
    assert (row.operator, row.role, row.granted) == ("olga", "operator", False)
    w.explanation.accept()


def test_logout_locks_the_station_and_an_engineer_login_is_a_recorded_role_change(
        qtbot: QtBot, station: Station) -> None:
    add_users(station)
    w = station.open(0)
    scan_badge_and_tap_pin(qtbot, w, "B-1001", "1234")
    qtbot.waitUntil(lambda: w.role == "operator", timeout=10_000)
    qtbot.mouseClick(w.topbar.operator_button, Qt.MouseButton.LeftButton)  # the operator item logs out
    assert w.role is None and w.topbar.operator_button.text() == "Log in"
    qtbot.waitUntil(lambda: len(audit(w, "logout")) == 1, timeout=5000)
    assert audit(w, "logout")[0].operator == "olga"
    # an engineer types a name and a PIN on the keyboard
    qtbot.mouseClick(w.topbar.operator_button, Qt.MouseButton.LeftButton)
    dialog = login_dialog(qtbot, w)
    qtbot.keyClicks(dialog.who, "eve")
    qtbot.keyClick(dialog.who, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.pin, "5678")
    qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.role == "engineer", timeout=10_000)
    assert w.cloud_panel.retry_button.allowed
    # an operator taking over from the engineer without a logout changes the station's role
    w.open_login()
    dialog = login_dialog(qtbot, w)
    qtbot.keyClicks(dialog.who, "olga")
    qtbot.keyClick(dialog.who, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.pin, "1234")
    qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.role == "operator", timeout=10_000)
    qtbot.waitUntil(lambda: len(audit(w, "role-changed")) == 1, timeout=5000)
    row = audit(w, "role-changed")[0]
    assert row.operator == "olga" and row.details == {"from": "engineer", "to": "operator", "previous_user": "eve"}
    assert not w.cloud_panel.retry_button.allowed


def test_an_open_station_acts_as_admin(qtbot: QtBot, station: Station) -> None:
    w = station.open(0, operator="tess")
    assert (w.operator, w.role) == ("tess", "admin")
    assert w.topbar.operator_button.text() == "tess · admin (open station)"
    assert w.cloud_panel.retry_button.allowed
    assert w.open_login() is None
