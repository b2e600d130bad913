"""The GUI thread never talks to the registry: not per event, not for the lot, history or cloud views.

Issue 12: "The GUI thread does no I/O". A statement run on the GUI thread freezes the window for
as long as the database takes (a registry on the network: seconds), and
``bench/gui_latency.py`` only sees it when the database happens to be slow. SQLAlchemy's
``before_cursor_execute`` event names the thread of every statement the registry runs.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import event

from station.ui.cardmodel import CardState

from .conftest import Station

pytestmark = pytest.mark.slow


def test_a_run_and_every_view_query_the_registry_off_the_gui_thread(qtbot: QtBot, station: Station) -> None:
    w = station.open(1)
    threads: list[str] = []
    gui = threading.main_thread()

    def statement(*_args: Any) -> None:
        threads.append("GUI" if threading.current_thread() is gui else threading.current_thread().name)

    engine = w.session.registry.engine
    event.listen(engine, "before_cursor_execute", statement)
    try:
        w.start_all()
        card = station.wait_prompt("1")
        card.setFocus()
        qtbot.waitUntil(card.hasFocus)
        qtbot.keyClick(card, Qt.Key.Key_Y)
        card = station.wait_state("1", CardState.PASS, CardState.FAIL, CardState.ERROR)
        assert card.view.state is CardState.PASS, card.view.reason
        for page in (w.lot_panel, w.history, w.cloud_panel, w.log_pane):
            w.tabs.setCurrentWidget(page)
        w.refresh_status()
        w.history.requery()  # what its search box does
        qtbot.waitUntil(lambda: w.history.model.rowCount() == 1, timeout=30_000)
        seen = len(threads)
        qtbot.waitUntil(lambda: w.workers.pool.activeThreadCount() == 0, timeout=30_000)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
    assert seen > 0  # the run and the views did query the registry: in slot threads and workers
    assert "GUI" not in threads, f"{threads.count('GUI')} of {len(threads)} statements ran on the GUI thread"
