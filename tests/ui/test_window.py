"""The real window driven like an operator would, against twins (headless)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from station.labels.payload import label_payload
from station.ui.cardmodel import CardState

from .conftest import Station, profile_variant, wedge

pytestmark = pytest.mark.slow


def answer(qtbot: QtBot, station: Station, slot: str, key: Qt.Key) -> None:
    card = station.wait_prompt(slot)
    card.setFocus()
    qtbot.waitUntil(card.hasFocus)
    qtbot.keyClick(card, key)


def test_start_provisions_and_shows_pass(qtbot: QtBot, station: Station) -> None:
    w = station.open(1)
    qtbot.mouseClick(station.card("1").start_button, Qt.MouseButton.LeftButton)
    station.wait_state("1", CardState.RUNNING, timeout=10)
    answer(qtbot, station, "1", Qt.Key.Key_Y)
    card = station.wait_state("1", CardState.PASS, CardState.FAIL, CardState.ERROR)
    assert card.view.state is CardState.PASS, card.view.reason
    assert card.banner.word == "PASS" and card.accessibleName().startswith("Slot 1. PASS")
    assert card.view.device_id == station.twins[0].device_id
    assert card.view.serial_number == station.twins[0].identity.serial_number
    qtbot.waitUntil(lambda: w.shift["passed"] == 1)
    assert "1 passed" in w.topbar.shift.value.text()
    # The result stays on screen: nothing clears it but the next unit.
    qtbot.wait(300)
    assert card.view.state is CardState.PASS


def test_unit_taken_out_mid_run_fails_with_the_reason(qtbot: QtBot, station: Station) -> None:
    station.open(1)
    station.window.start_all()
    station.wait_step("1", "flash")
    station.bench.lift(station.twins[0].name)  # out of the fixture; the fixture's probe stays
    card = station.wait_state("1", CardState.FAIL, CardState.ERROR, CardState.PASS)
    # The unit left: it did not make it, so FAIL, and the words say why (nothing else is wrong with it).
    assert card.view.state is CardState.FAIL, card.view.reason
    assert card.banner.word == "FAIL" and card.accessibleName().startswith("Slot 1. FAIL")
    assert card.view.failing_step == "flash"
    assert card.view.headline == "Removed at: Writing firmware"
    assert card.reason_label.text() == "the unit was unplugged or taken out during flash"
    assert card.reason_label.toolTip() == card.view.reason and "No ACK" in card.view.reason
    qtbot.waitUntil(lambda: station.window.shift["failed"] == 1)
    assert station.window.shift["errors"] == 0
    assert card.retry_button.isEnabled()


def test_unplug_mid_run_on_the_usb_bench_fails_with_the_reason(qtbot: QtBot, station: Station,
                                                                tmp_path: Path) -> None:
    usb = profile_variant(tmp_path, lambda t: t.replace('transport = "swd"', 'transport = "usb"')
                          .replace('action = "halt"', 'action = "dfu"'))
    twin = station.bench.create(1, seed=4321)[0]
    # the cable comes out 200 KB into the download: a fast twin's whole flash step can end between
    # the card showing "flash" and an unplug sent from here (CI saw "Letting it boot")
    twin.set_faults(unplug_after_bytes=200_000)
    station.open(usb=True, twins=[twin], profile=usb)
    station.window.start_all()
    card = station.wait_state(twin.device_id, CardState.FAIL, CardState.ERROR, CardState.PASS)
    assert card.view.state is CardState.FAIL, card.view.reason
    assert card.view.headline == "Removed at: Writing firmware"
    assert card.reason_label.text() == "the unit was unplugged or taken out during flash"


def test_a_pulled_probe_is_error_not_fail(qtbot: QtBot, station: Station) -> None:
    station.open(1)
    station.window.start_all()
    station.wait_step("1", "flash")
    station.bench.pull_probe(station.twins[0].name)  # the probe's USB cable comes off
    card = station.wait_state("1", CardState.FAIL, CardState.ERROR, CardState.PASS)
    assert card.view.state is CardState.ERROR, card.view.reason
    assert card.banner.word == "ERROR" and card.accessibleName().startswith("Slot 1. ERROR")
    assert card.view.headline == "Probe lost: call engineer"
    assert card.reason_label.text().startswith("While writing firmware — ")
    assert "probe" in card.reason_label.text() and card.reason_label.toolTip() == card.view.reason
    qtbot.waitUntil(lambda: station.window.shift["errors"] == 1)
    assert station.window.shift["failed"] == 0  # a station error is not counted as a failed unit
    assert station.window.topbar.shift.value.text() == "0 passed / 0 failed / 1 error"  # not "1 errors"


def test_cancel_one_slot_while_another_passes(qtbot: QtBot, station: Station) -> None:
    # slot_workers pinned to thread: the window's cancel reaches a worker as it reaches a thread, through the
    # run handle (tests/pipeline/test_slot_workers.py cancels one slot's worker); this test is the card's
    # STOPPED beside its neighbour's PASS, which the runner does not change
    station.open(2, slot_workers="thread")
    station.window.start_all()
    station.wait_step("1", "flash")
    qtbot.mouseClick(station.card("1").stop_button, Qt.MouseButton.LeftButton)
    answer(qtbot, station, "2", Qt.Key.Key_Y)
    one = station.wait_state("1", CardState.STOPPED, CardState.FAIL, CardState.PASS)
    two = station.wait_state("2", CardState.PASS, CardState.FAIL, CardState.STOPPED)
    assert (one.view.state, two.view.state) == (CardState.STOPPED, CardState.PASS), (one.view.reason, two.view.reason)


def test_a_prompt_is_answered_on_its_own_slot_only(qtbot: QtBot, station: Station) -> None:
    # slot_workers pinned to thread: a worker's prompt is relayed to the same broker and board
    # (tests/pipeline/test_slot_workers.py answers prompts on their own worker's slot); this test is the keys
    station.open(2, slot_workers="thread")
    station.window.start_all()
    one, two = station.wait_prompt("1"), station.wait_prompt("2")
    first = one.view.prompt.prompt_id  # type: ignore[union-attr]
    answer(qtbot, station, "2", Qt.Key.Key_N)  # the operator says slot 2's LED is not green
    two = station.wait_state("2", CardState.FAIL, CardState.PASS)
    assert two.view.state is CardState.FAIL and two.view.failing_step == "led"
    # slot 1 still asks its own, unanswered, question
    assert one.view.state is CardState.RUNNING and one.view.prompt is not None
    assert one.view.prompt.prompt_id == first
    answer(qtbot, station, "1", Qt.Key.Key_Y)
    assert station.wait_state("1", CardState.PASS, CardState.FAIL).view.state is CardState.PASS


def test_an_unanswered_prompt_times_out_visibly(qtbot: QtBot, station: Station, tmp_path: Path) -> None:
    quick = profile_variant(tmp_path, lambda t: t.replace("timeout = 30.0", "timeout = 2.0"))
    station.open(1, profile=quick)
    station.window.start_all()
    card = station.wait_prompt("1")
    qtbot.waitUntil(lambda: card.prompt_panel.countdown_label.text() in ("1 s", "time up"), timeout=5000)
    card = station.wait_state("1", CardState.FAIL, CardState.PASS)
    assert card.view.failing_step == "led"
    assert "not answered" in card.view.reason or "answer" in card.view.reason


def test_scanning_a_label_opens_the_record(qtbot: QtBot, station: Station) -> None:
    w = station.open(1)
    w.start_all()
    answer(qtbot, station, "1", Qt.Key.Key_Y)
    station.wait_state("1", CardState.PASS)
    twin = station.twins[0]
    w.activateWindow()
    w.history.search.setFocus()  # a text field has the focus: the scan must still be heard, not typed
    qtbot.waitUntil(w.history.search.hasFocus)
    target = QApplication.focusWidget()
    wedge(target, label_payload(twin.device_id, twin.identity.serial_number))
    qtbot.waitUntil(lambda: bool(w.records) and w.records[-1].record is not None, timeout=10_000)
    dialog = w.records[-1]
    assert dialog.record.device_id == twin.device_id
    assert dialog.attempts.rowCount() == 1
    assert dialog.attempts.item(0, 1).text() == "passed" and dialog.attempts.horizontalHeaderItem(1).text() == "Result"
    # the history shows the device's attempts too, and the scanned text went into no field
    qtbot.waitUntil(lambda: w.history.model.rowCount() == 1, timeout=10_000)
    assert w.history.search.text() == twin.device_id


def test_export_writes_what_the_registry_holds(qtbot: QtBot, station: Station, tmp_path: Path) -> None:
    w = station.open(1)
    w.start_all()
    answer(qtbot, station, "1", Qt.Key.Key_Y)
    station.wait_state("1", CardState.PASS)
    w.open_export()
    qtbot.waitUntil(lambda: getattr(w, "export_dialog", None) is not None)
    dialog = w.export_dialog
    for fmt in ("txt", "csv", "json", "peridio-csv"):
        dialog.fmt.setCurrentIndex(dialog.fmt.findData(fmt))
        out = tmp_path / f"manifest.{fmt}"
        dialog.path.setText(str(out))
        dialog.result = None
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.result is not None, timeout=10_000)
        assert dialog.result.devices == 1 and out.exists()
    rows = w.session.registry.manifest_rows(w.lot_name)
    assert (tmp_path / "manifest.txt").read_text().split() == [r.device_id for r in rows]
    assert str(dialog.result.sha256) in dialog.outcome.text()


def test_closing_during_a_run_asks_cancels_at_a_step_boundary_and_waits(
        qtbot: QtBot, station: Station, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def question(parent: object, title: str, text: str, *a: object) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    # the default runner on purpose: two slots get worker processes, and the close must stop them mid-run
    w = station.open(2)
    w.start_all()
    station.wait_step("1", "flash")
    station.wait_step("2", "flash")
    w.close()
    assert asked and "2 slot(s)" in asked[0]
    assert w.isVisible(), "the window waits for the slots before it closes"
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=60_000)
    assert not w.session.active()
    for slot in ("1", "2"):
        assert station.card(slot).view.state is CardState.STOPPED
    # nothing half-recorded: every attempt the run opened is closed, as cancelled
    outcomes = [a.outcome for a in w.session.registry.lot_attempts(w.lot_name)]
    assert outcomes == ["cancelled", "cancelled"]


@pytest.fixture
def pg_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A fresh PostgreSQL database and a way to take it down (refuse connections, end the open ones)."""
    import os
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    base_url = os.environ.get("STATION_TEST_DATABASE_URL")
    if not base_url:
        pytest.skip("STATION_TEST_DATABASE_URL is not set")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # this PC's owed-closes file
    base = make_url(base_url)
    name = f"guidown_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')

    def down() -> None:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])

    try:
        yield base.set(database=name).render_as_string(hide_password=False), down
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_registry_down_mid_run_is_error_not_fail(qtbot: QtBot, station: Station,
                                                 pg_database: tuple[str, Callable[[], None]]) -> None:
    url, down = pg_database
    station.db_url = url
    station.open(1)
    station.window.start_all()
    station.wait_step("1", "flash")
    down()
    card = station.wait_state("1", CardState.FAIL, CardState.ERROR, CardState.PASS)
    assert card.view.state is CardState.ERROR, card.view.reason
    assert card.banner.word == "ERROR"
    assert card.view.headline == "No registry: call engineer"
    assert card.reason_label.text().startswith("registry unavailable")
    assert card.view.reason.startswith("registry unavailable")
    qtbot.waitUntil(lambda: station.window.shift["errors"] == 1)
    assert station.window.shift["failed"] == 0


def test_auto_start_runs_the_next_unit_seated_in_a_fixture_whose_probe_stays(qtbot: QtBot, station: Station) -> None:
    w = station.open(1, auto_start=True)
    assert w.auto_start.isChecked()
    station.wait_state("1", CardState.RUNNING, timeout=30)  # a unit was seated when the line opened
    answer(qtbot, station, "1", Qt.Key.Key_Y)
    card = station.wait_state("1", CardState.PASS, CardState.FAIL, CardState.ERROR)
    assert card.view.state is CardState.PASS, card.view.reason
    seats = w.session._seats
    checks = seats.checks
    qtbot.waitUntil(lambda: seats.checks >= checks + 4, timeout=10_000)
    assert card.view.state is CardState.PASS  # the finished unit still seated: not run again
    station.bench.lift(station.twins[0].name)  # the operator takes it out (the probe stays)
    checks = seats.checks
    qtbot.waitUntil(lambda: seats.checks >= checks + 2, timeout=10_000)
    assert card.view.state is CardState.PASS  # the result stays until the next unit
    # ... and seats one. The twin seats the same unit again (it cannot yet put a different unit
    # behind the same probe), so the run that starts finds it provisioned: the card shows that.
    station.bench.plug(station.twins[0].name)
    card = station.wait_state("1", CardState.DONE_BEFORE, CardState.FAIL, CardState.ERROR, timeout=60)
    assert card.view.state is CardState.DONE_BEFORE, card.view.reason
    assert card.view.device_id == station.twins[0].device_id
