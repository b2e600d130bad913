"""The self-driving window of ``station gui --demo-answer … --quit-after …`` (the installed
station's smoke test): it answers like a click, reports the cards' own verdicts, and fails loudly."""

from __future__ import annotations

import io

import pytest
from pytestqt.qtbot import QtBot

from station.ui.cardmodel import CardState
from station.ui.smoke import SmokeDriver

from .conftest import Station

pytestmark = pytest.mark.slow


def test_a_no_answer_fails_the_unit_and_the_smoke(qtbot: QtBot, station: Station) -> None:
    w = station.open(1)
    out = io.StringIO()
    left: list[int] = []  # not QApplication.exit: this process's event loop is shared by every test
    driver = SmokeDriver(w, answer="no", quit_after=180, out=out, leave=left.append)
    qtbot.waitUntil(lambda: bool(left), timeout=180_000)
    assert left == [1] and driver.exit_code == 1 and not w.isVisible()
    assert station.card("1").view.state is CardState.FAIL and station.card("1").view.failing_step == "led"
    text = out.getvalue()
    assert "Slot 1 asks 'Is the status LED green?': answering no" in text
    assert f"Slot 1: FAIL {station.twins[0].device_id}" in text and "0/1 slots PASS" in text


def test_running_out_of_time_is_a_failure_that_says_so(qtbot: QtBot, station: Station) -> None:
    w = station.open(1)
    out = io.StringIO()
    left: list[int] = []
    driver = SmokeDriver(w, answer=None, quit_after=8, out=out, leave=left.append)  # nobody answers the LED question
    qtbot.waitUntil(lambda: bool(left), timeout=90_000)  # 8 s, then at most STOP_GRACE_S to stop
    assert left == [1] and driver.exit_code == 1
    assert "8 s passed before every slot had a result" in out.getvalue()
    # the unfinished slot is reported as it stands (running, or still waiting on a loaded machine)
    assert any(f"Slot 1: {state}" in out.getvalue() for state in ("RUNNING", "WAITING")), out.getvalue()
