"""Profiles, as an engineer and an operator use them: choose from the folder, read, edit with the
core's check before save (each problem at its line), save with a reason (audited), use it (headless)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from pytestqt.qtbot import QtBot

from .conftest import DEMO_BORON, Station
from .test_login import add_users, audit, scan_badge_and_tap_pin


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STATION_PROFILES_DIR", raising=False)
    d = tmp_path / "profiles"
    d.mkdir()
    shutil.copy(DEMO_BORON, d / "demo-boron.toml")
    (d / "broken.toml").write_text(DEMO_BORON.read_text().replace('platform = "boron"', 'platform = "boran"'))
    return d


def open_profiles(qtbot: QtBot, station: Station, folder: Path, who: str, pin: str) -> tuple[Any, Any]:
    add_users(station)
    w = station.open(0, profile=folder / "demo-boron.toml")
    scan_badge_and_tap_pin(qtbot, w, who, pin)
    qtbot.waitUntil(lambda: w.role is not None, timeout=10_000)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.menus.profiles_dialog is not None and w.menus.profiles_dialog.model.rowCount() == 2
                    and not w.menus.profiles_dialog.busy and w.menus.profiles_dialog.editor.toPlainText() != "",
                    timeout=10_000)
    return w, w.menus.profiles_dialog


def replace_line(qtbot: QtBot, dialog: Any, old: str, new: str) -> None:
    """Find the line, select it, type the new one: as a person edits in the text box."""
    dialog.editor.setFocus()
    dialog.editor.moveCursor(QTextCursor.MoveOperation.Start)
    assert dialog.editor.find(old)
    cursor = dialog.editor.textCursor()
    cursor.select(QTextCursor.SelectionType.LineUnderCursor)
    dialog.editor.setTextCursor(cursor)
    qtbot.keyClicks(dialog.editor, new)


def wait_message(qtbot: QtBot, dialog: Any, text: str) -> None:
    qtbot.waitUntil(lambda: not dialog.busy and text in dialog.message.text(), timeout=15_000)


def test_an_engineer_edits_a_profile_checked_before_save_and_uses_it(qtbot: QtBot, station: Station, folder: Path,
                                                                    qtmodeltester: Any) -> None:
    w, dialog = open_profiles(qtbot, station, folder, "eve", "5678")
    qtmodeltester.check(dialog.model)
    listed = {dialog.model.index(r, 0).data(): dialog.model.index(r, 4).data() for r in range(2)}
    assert listed == {"broken.toml": "1 problem(s)", "demo-boron.toml": "ok"}
    assert dialog.path == folder / "demo-boron.toml", "the profile in use is the one shown first"
    assert not dialog.editor.isReadOnly()
    target = folder / "demo-boron.toml"
    original = target.read_bytes()

    replace_line(qtbot, dialog, "dpi = 300", "dpi = 30")
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    wait_message(qtbot, dialog, "1 problem(s)")
    [problem] = dialog.problems
    line = DEMO_BORON.read_text().splitlines().index("dpi = 300") + 1
    assert str(problem) == f"line {line}: label.dpi: must be at least 100, got 30"
    dialog.problem_list.setCurrentRow(0)  # choosing the problem puts the cursor on its line
    assert dialog.editor.textCursor().blockNumber() + 1 == line and dialog.editor.textCursor().selectedText() == \
        "dpi = 30"

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "Say why" in dialog.message.text()
    qtbot.keyClicks(dialog.reason, "label stock changed to 600 dpi")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    wait_message(qtbot, dialog, "Not saved: 1 problem(s)")
    assert target.read_bytes() == original, "an invalid profile is never written"

    replace_line(qtbot, dialog, "dpi = 30", "dpi = 600")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    wait_message(qtbot, dialog, "demo-boron.toml saved")
    assert "press Use this profile" in dialog.message.text(), "the profile in use: the slots run the old one"
    assert "dpi = 600" in target.read_text() and dialog.reason.text() == ""
    [row] = [r for r in audit(w, "edit-profile") if r.reason]
    assert (row.operator, row.role, row.granted, row.reason) == ("eve", "engineer", True,
                                                                 "label stock changed to 600 dpi")
    assert row.details["sha256_before"] == hashlib.sha256(original).hexdigest()
    assert row.details["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()

    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.job.profile.label.dpi == 600, timeout=30_000)

    dialog.select("broken.toml")
    wait_message(qtbot, dialog, "1 problem(s)")
    assert "platform" in str(dialog.problems[0]) and str(dialog.problems[0]).startswith("line 5:")
    dialog.reject()


def test_an_operator_reads_profiles_but_cannot_edit_or_choose(qtbot: QtBot, station: Station, folder: Path) -> None:
    w, dialog = open_profiles(qtbot, station, folder, "B-1001", "1234")
    assert dialog.editor.isReadOnly() and not dialog.reason.isEnabled()
    assert "needs an engineer" in dialog.message.text()
    assert dialog.save_button.text() == "Save (locked: press to see why)" and not dialog.save_button.allowed
    before = (folder / "demo-boron.toml").read_bytes()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert "needs an engineer" in dialog.message.text()
    qtbot.waitUntil(lambda: any(not r.granted for r in audit(w, "edit-profile")), timeout=5000)
    [refused] = [r for r in audit(w, "edit-profile") if not r.granted]
    assert (refused.operator, refused.role) == ("olga", "operator")
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert "needs an engineer" in dialog.message.text()
    qtbot.waitUntil(lambda: w.explanation is not None and w.explanation.isVisible())
    assert "profile" in w.explanation.text()
    qtbot.waitUntil(lambda: len([r for r in audit(w, "edit-profile") if not r.granted]) == 2, timeout=5000)
    assert (folder / "demo-boron.toml").read_bytes() == before
    assert Path(w.job.profile.path) == folder / "demo-boron.toml"
    w.explanation.accept()
    dialog.reject()


def test_a_profile_shipped_with_the_station_is_edited_as_a_copy(qtbot: QtBot, station: Station, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATION_PROFILES_DIR", raising=False)
    add_users(station)
    w = station.open(0, profile=DEMO_BORON)
    scan_badge_and_tap_pin(qtbot, w, "eve", "5678")
    qtbot.waitUntil(lambda: w.role == "engineer", timeout=10_000)
    qtbot.mouseClick(w.profile_button, Qt.MouseButton.LeftButton)  # the board's Profile… opens the same dialog
    qtbot.waitUntil(lambda: w.menus.profiles_dialog is not None and not w.menus.profiles_dialog.busy
                    and w.menus.profiles_dialog.editor.toPlainText() != "", timeout=10_000)
    dialog = w.menus.profiles_dialog
    assert dialog.path == DEMO_BORON
    shipped = DEMO_BORON.read_bytes()
    replace_line(qtbot, dialog, 'product = "Demo Boron"', 'product = "Line 2 Boron"')
    qtbot.keyClicks(dialog.reason, "line 2 variant")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    wait_message(qtbot, dialog, "ships with the station")
    assert DEMO_BORON.read_bytes() == shipped

    qtbot.mouseClick(dialog.save_as_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.save_as_dialog is not None and dialog.save_as_dialog.isVisible())
    copy = tmp_path / "line2-boron.toml"
    dialog.save_as_dialog.selectFile(str(copy))
    dialog.save_as_dialog.accept()
    wait_message(qtbot, dialog, "line2-boron.toml saved")
    assert 'product = "Line 2 Boron"' in copy.read_text() and DEMO_BORON.read_bytes() == shipped
    assert dialog.path == copy
    [row] = [r for r in audit(w, "edit-profile") if r.reason]
    assert row.details["profile"] == str(copy) and row.details["sha256_before"] is None
    dialog.reject()
