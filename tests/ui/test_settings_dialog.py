"""The settings dialog, driven as a person does: every setting listed with its value and source,
locked rows explained, a save checked, written to station.toml (comments kept) and audited (headless)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from station import settings
from station.store.registry import open_registry

from .conftest import Station
from .test_login import add_users, audit, scan_badge_and_tap_pin


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own STATION_NAME (or any row's variable) must not decide what the dialog shows."""
    for s in settings.SETTINGS:
        for var in s.env:
            if var not in ("STATION_SIM_DIR",):
                monkeypatch.delenv(var, raising=False)


def open_as(qtbot: QtBot, station: Station, who: str, pin: str) -> Any:
    add_users(station)
    reg = open_registry(station.db_url)
    try:
        reg.add_user("ada", "admin", "9999", by="setup", station="gui-test")
    finally:
        reg.close()
    w = station.open(0)
    # an engineer's comment and the fixture's wiring, which a save must leave as they are
    config = station.tmp / "station.toml"
    config.write_text("# bench 3, rewired 2026-11-30\n" + config.read_text()
                      + '\n[slots]\n"1" = "0240000034544e45"  # left probe\n')
    scan_badge_and_tap_pin(qtbot, w, who, pin)
    qtbot.waitUntil(lambda: w.role is not None, timeout=10_000)
    return w


def open_dialog(qtbot: QtBot, w: Any) -> Any:
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)  # Ctrl+, as in most desktop apps
    qtbot.waitUntil(lambda: w.menus.settings_dialog is not None and w.menus.settings_dialog.model.rowCount() > 0,
                    timeout=10_000)
    return w.menus.settings_dialog


def row(dialog: Any, name: str) -> Any:
    return dialog.model.row_at(dialog.model.find(lambda r: r.name == name))


def cell(dialog: Any, name: str, column: int) -> str:
    return str(dialog.model.index(dialog.model.find(lambda r: r.name == name), column).data())


def test_an_operator_sees_every_setting_and_why_it_is_locked(qtbot: QtBot, station: Station, qtmodeltester: Any) -> None:
    w = open_as(qtbot, station, "B-1001", "1234")
    dialog = open_dialog(qtbot, w)
    qtmodeltester.check(dialog.model)
    assert [r.name for r in dialog.model.rows] == [s.name for s in settings.SETTINGS]
    assert cell(dialog, "station_name", 1) == "gui-test" and "station.toml" in cell(dialog, "station_name", 2)
    assert cell(dialog, "db", 2) == "flag", "the window was given --db"
    assert cell(dialog, "swd_frequency", 1) == "4000000" and cell(dialog, "swd_frequency", 2) == "default"
    assert cell(dialog, "particle_token", 1) in ("set", "not set"), "a credential is never shown"
    assert all(cell(dialog, r.name, 4).startswith("locked") for r in dialog.model.rows), "an operator changes nothing"
    assert cell(dialog, "swd_frequency", 4) == "locked: needs engineer"
    assert cell(dialog, "cache", 4) == "locked: not kept in station.toml"

    dialog.select("swd_frequency")
    assert not dialog.value.isEnabled()
    assert "operator" in dialog.message.text() and "needs an engineer" in dialog.message.text()
    before = (station.tmp / "station.toml").read_text()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)  # the locked Save is pressable: it explains
    qtbot.waitUntil(lambda: "Not saved" in dialog.message.text(), timeout=10_000)
    assert "needs an engineer" in dialog.message.text()
    assert (station.tmp / "station.toml").read_text() == before
    qtbot.waitUntil(lambda: len(audit(w, "change-settings")) == 1, timeout=5000)
    [refusal] = audit(w, "change-settings")
    assert (refusal.operator, refusal.role, refusal.granted) == ("olga", "operator", False)
    assert refusal.details == {"setting": "swd_frequency"}
    dialog.close()


def test_an_engineer_changes_the_swd_clock_and_bad_values_lose_nothing(qtbot: QtBot, station: Station) -> None:
    w = open_as(qtbot, station, "eve", "5678")
    dialog = open_dialog(qtbot, w)
    config = station.tmp / "station.toml"
    assert cell(dialog, "swd_frequency", 4) == "you may change it"
    assert cell(dialog, "station_name", 4) == "locked: needs admin", "the station's name is an admin's"
    assert cell(dialog, "cache", 4).startswith("locked"), "the station file does not hold the cache folder"

    dialog.select("swd_frequency")
    assert dialog.value.isEnabled()
    before = config.read_text()
    for bad, says in (("fast", "expected an integer"), ("100", "between 1,000 Hz and 50,000,000 Hz")):
        dialog.value.setFocus()
        dialog.value.selectAll()
        qtbot.keyClicks(dialog.value, bad)
        qtbot.keyClick(dialog.value, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda says=says: says in dialog.message.text(), timeout=10_000)
        assert dialog.message.text().startswith("Not saved") and config.read_text() == before

    dialog.value.setFocus()
    dialog.value.selectAll()
    qtbot.keyClicks(dialog.value, "2000000")
    assert dialog.value.text() == "2000000"
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "saved in" in dialog.message.text() and cell(dialog, "swd_frequency", 1) == "2000000",
                    timeout=10_000)
    assert "next start" in dialog.message.text()
    assert "station.toml" in cell(dialog, "swd_frequency", 2)
    text = config.read_text()
    assert text.startswith("# bench 3, rewired 2026-11-30\n") and '"1" = "0240000034544e45"  # left probe' in text
    data = tomllib.loads(text)
    assert data["station"] == {"name": "gui-test", "swd_frequency": 2_000_000}
    [row_] = audit(w, "setting-changed")
    assert (row_.operator, row_.role, row_.granted) == ("eve", "engineer", True)
    assert row_.details["setting"] == "swd_frequency" and (row_.details["from"], row_.details["to"]) == \
        ("4000000", "2000000")

    # emptied: the key leaves the file and the default applies again
    dialog.value.clear()
    qtbot.keyClick(dialog.value, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: cell(dialog, "swd_frequency", 2) == "default", timeout=10_000)
    assert "swd_frequency" not in tomllib.loads(config.read_text())["station"]
    dialog.close()


def test_an_admin_renames_the_station_and_a_registry_url_password_stays_hidden(qtbot: QtBot,
                                                                                station: Station) -> None:
    w = open_as(qtbot, station, "ada", "9999")
    dialog = open_dialog(qtbot, w)
    dialog.select("station_name")
    QApplication.processEvents()
    dialog.value.selectAll()
    qtbot.keyClicks(dialog.value, "line-2 station 4")
    qtbot.keyClick(dialog.value, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: cell(dialog, "station_name", 1) == "line-2 station 4", timeout=10_000)
    assert tomllib.loads((station.tmp / "station.toml").read_text())["station"]["name"] == "line-2 station 4"

    dialog.select("db")
    assert row(dialog, "db").editable
    dialog.value.selectAll()
    qtbot.keyClicks(dialog.value, "postgresql+psycopg://line:s3cret@db-host/station")
    qtbot.keyClick(dialog.value, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "saved in" in dialog.message.text(), timeout=10_000)
    assert "still wins" in dialog.message.text(), "the window's --db outranks the file"
    assert tomllib.loads((station.tmp / "station.toml").read_text())["station"]["db"] == \
        "postgresql+psycopg://line:s3cret@db-host/station"
    rows = audit(w, "setting-changed")
    assert all("s3cret" not in str(r.details) for r in rows)
    [db] = [r for r in rows if r.details["setting"] == "db"]
    assert (db.operator, db.role, db.details["to"]) == ("ada", "admin", "postgresql+psycopg://line:***@db-host/station")
    dialog.close()
