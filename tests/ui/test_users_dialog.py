"""Users and PINs, driven as an admin does it: the first user, a PIN reset, disabling, the last admin kept;
operators and engineers find the entry locked and told why (headless)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from station.errors import LoginRefused
from station.store.models import User
from station.store.registry import open_registry

from .conftest import Station
from .test_login import add_users, audit, login_dialog, scan_badge_and_tap_pin


def open_users(qtbot: QtBot, w: Any) -> Any:
    w.menus.menu.aboutToShow.emit()  # the menu opening refreshes its locks
    assert w.menus.users_action.text() == "&Users and PINs…"
    w.menus.users_action.trigger()
    qtbot.waitUntil(lambda: w.menus.users_dialog is not None and not w.menus.users_dialog.busy, timeout=10_000)
    return w.menus.users_dialog


def fill(qtbot: QtBot, dialog: Any, *, name: str | None = None, role: str | None = None, badge: str | None = None,
         pin: str = "", again: str | None = None) -> None:
    if name is not None:
        dialog.name.setFocus()
        dialog.name.clear()
        qtbot.keyClicks(dialog.name, name)
    if role is not None:
        dialog.role.setCurrentText(role)
    if badge is not None:
        dialog.badge.clear()
        qtbot.keyClicks(dialog.badge, badge)
    qtbot.keyClicks(dialog.pin, pin)
    qtbot.keyClicks(dialog.pin_again, pin if again is None else again)


def save(qtbot: QtBot, dialog: Any, expect: str) -> None:
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.pin.text() == "" and dialog.pin_again.text() == "", "the PIN does not stay on screen"
    qtbot.waitUntil(lambda: not dialog.busy and expect in dialog.message.text(), timeout=10_000)


def login(station: Station, who: str, pin: str) -> Any:
    reg = open_registry(station.db_url)
    try:
        return reg.authenticate(who, pin, station="t")
    finally:
        reg.close()


def test_the_first_user_is_an_admin_and_then_the_station_asks_for_a_login(qtbot: QtBot, station: Station,
                                                                          qtmodeltester: Any) -> None:
    w = station.open(0, operator="setup-tech")
    assert w.open_station and w.role == "admin"
    dialog = open_users(qtbot, w)
    qtmodeltester.check(dialog.model)
    assert dialog.model.rowCount() == 0 and "first one must be an admin" in dialog.message.text()

    fill(qtbot, dialog, name="olga", role="operator", pin="1234")
    save(qtbot, dialog, "Not saved: the first user must be an admin")
    fill(qtbot, dialog, name="ada", role="admin", badge="B-9000", pin="4321", again="4322")
    save(qtbot, dialog, "The two PINs differ")
    fill(qtbot, dialog, pin="4321")
    save(qtbot, dialog, "ada added as admin")
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=10_000)
    assert [dialog.model.index(0, c).data() for c in range(4)] == ["ada", "admin", "B-9000", "active"]
    qtmodeltester.check(dialog.model)

    [added] = audit(w, "user-added")
    assert added.operator == "setup-tech" and added.details == {"user": "ada", "badge": True}
    with w.session.registry.reading() as s:
        stored = s.scalars(select(User.pin_hash)).one()
    assert stored.startswith("scrypt$") and "4321" not in stored
    assert login(station, "B-9000", "4321").name == "ada"

    dialog.reject()
    qtbot.waitUntil(lambda: not w.open_station and w.role is None, timeout=10_000)
    assert login_dialog(qtbot, w).isVisible(), "the open-station rule ended: whoever is here logs in"


def test_an_admin_resets_a_pin_disables_a_user_and_keeps_the_last_admin(qtbot: QtBot, station: Station) -> None:
    add_users(station)
    reg = open_registry(station.db_url)
    try:
        reg.add_user("ada", "admin", "9999", by="setup", station="gui-test")
    finally:
        reg.close()
    w = station.open(0)
    scan_badge_and_tap_pin(qtbot, w, "ada", "9999")
    qtbot.waitUntil(lambda: w.role == "admin", timeout=10_000)
    dialog = open_users(qtbot, w)
    assert [dialog.model.index(r, 0).data() for r in range(dialog.model.rowCount())] == ["ada", "eve", "olga"]

    dialog.select("olga")
    assert dialog.name.isReadOnly() and dialog.role.currentText() == "operator" and dialog.badge.text() == "B-1001"
    fill(qtbot, dialog, pin="2468")
    save(qtbot, dialog, "olga: PIN reset")
    with pytest.raises(LoginRefused):
        login(station, "olga", "1234")
    assert login(station, "B-1001", "2468").name == "olga"
    changed = audit(w, "user-changed")
    assert changed[0].details == {"user": "olga", "pin": "changed"} and changed[0].operator == "ada"
    assert all("2468" not in str(r.details) and "1234" not in str(r.details) for r in changed)

    dialog.select("olga")
    dialog.active.setChecked(False)
    save(qtbot, dialog, "olga: disabled")
    qtbot.waitUntil(lambda: dialog.model.index(dialog.model.find(lambda u: u.name == "olga"), 3).data()
                    == "disabled", timeout=10_000)
    with pytest.raises(LoginRefused):
        login(station, "B-1001", "2468")

    dialog.select("eve")
    dialog.role.setCurrentText("admin")
    save(qtbot, dialog, "eve: role now admin")
    dialog.select("eve")
    dialog.role.setCurrentText("engineer")
    save(qtbot, dialog, "eve: role now engineer")
    dialog.select("ada")
    dialog.active.setChecked(False)
    save(qtbot, dialog, "Not saved: ada is the last active admin")
    assert login(station, "ada", "9999").active
    dialog.reject()


@pytest.mark.parametrize(("who", "pin", "role"), [("B-1001", "1234", "operator"), ("eve", "5678", "engineer")])
def test_operators_and_engineers_find_users_locked_and_told_why(qtbot: QtBot, station: Station, who: str, pin: str,
                                                               role: str) -> None:
    add_users(station)
    w = station.open(0)
    scan_badge_and_tap_pin(qtbot, w, who, pin)
    qtbot.waitUntil(lambda: w.role == role, timeout=10_000)
    w.menus.menu.aboutToShow.emit()
    assert w.menus.users_action.text() == "&Users and PINs… (locked: admin only)"
    assert "needs an admin" in w.menus.users_action.toolTip()
    w.menus.users_action.trigger()
    qtbot.waitUntil(lambda: w.explanation is not None and w.explanation.isVisible())
    assert "managing users and PINs" in w.explanation.text() and f"as {role}" in w.explanation.text()
    assert w.menus.users_dialog is None
    qtbot.waitUntil(lambda: len(audit(w, "manage-users")) == 1, timeout=5000)
    [row] = audit(w, "manage-users")
    assert (row.role, row.granted) == (role, False)
    w.explanation.accept()
    QApplication.processEvents()
