"""Models the window's tables sit on, checked by Qt's own model tester as they change."""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QTableView
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from station.ui.charts import FailureBars
from station.ui.logmodel import ALL_SLOTS, LogLine, LogModel, SlotFilter
from station.ui.pagedmodel import Column, PagedTableModel
from station.ui.workers import Workers

ROWS = [{"id": i, "device": f"dev{i:04d}"} for i in range(1000)]


class Source:
    """A keyset-paged read model over ROWS that records which thread served it."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, query: Any, cursor: Any, limit: int) -> tuple[list[dict[str, Any]], Any]:
        self.gate.wait(10)
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if query == "boom":
            raise RuntimeError("registry unreachable")
        rows = [r for r in ROWS if (cursor is None or r["id"] > cursor) and (not query or query in r["device"])]
        page = rows[:limit]
        return page, (page[-1]["id"] if len(rows) > limit else None)


def paged(source: Source) -> PagedTableModel:
    return PagedTableModel([Column("ID", lambda r: r["id"], align_right=True), Column("Device", lambda r: r["device"])],
                           source, Workers(), page_size=100)


def test_paged_model_fetches_lazily_off_the_gui_thread(qtbot: QtBot) -> None:
    src = Source()
    model = paged(src)
    model.set_query("")
    qtbot.waitUntil(lambda: model.rowCount() == 100)
    assert src.threads and threading.current_thread().name not in src.threads
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    model.fetchMore(QModelIndex())  # one page in flight at a time
    qtbot.waitUntil(lambda: not model.busy)
    assert model.rowCount() == 200 and src.calls == 2


def test_paged_model_passes_the_model_tester_while_it_fills(qtbot: QtBot, qtmodeltester: ModelTester) -> None:
    src = Source()
    model = paged(src)
    qtmodeltester.check(model)  # the tester pulls pages itself as it checks
    model.set_query("")
    while model.canFetchMore(QModelIndex()) or model.busy:
        model.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda: not model.busy)
    assert model.rowCount() == 1000 and model.complete
    assert model.data(model.index(999, 1)) == "dev0999"


def test_a_view_scrolling_pulls_pages(qtbot: QtBot) -> None:
    src = Source()
    model = paged(src)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(400, 300)
    view.show()
    model.set_query("")
    qtbot.waitUntil(lambda: model.rowCount() == 100)
    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() >= 200)


def test_a_new_query_drops_a_late_page_of_the_old_one(qtbot: QtBot, qtmodeltester: ModelTester) -> None:
    src = Source()
    model = paged(src)
    qtmodeltester.check(model)
    src.gate.clear()
    model.set_query("")  # its page is held at the gate
    src.gate.set()
    model.set_query("dev000")
    qtbot.waitUntil(lambda: model.complete and src.calls >= 2)
    qtbot.wait(50)
    assert [r["device"] for r in model.rows] == [f"dev000{i}" for i in range(10)]


def test_a_failing_query_reports_and_stops(qtbot: QtBot) -> None:
    model = paged(Source())
    errors: list[str] = []
    model.failed.connect(errors.append)
    model.set_query("boom")
    qtbot.waitUntil(lambda: bool(errors))
    assert errors == ["registry unreachable"] and not model.canFetchMore(QModelIndex())


def test_log_model_is_bounded_and_filters_by_slot(qtmodeltester: ModelTester) -> None:
    model = LogModel(max_rows=50)
    proxy = SlotFilter()
    proxy.setSourceModel(model)
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    model.append([LogLine(float(i), str(i % 3), logging.INFO, f"line {i}") for i in range(40)])
    model.append([LogLine(40.0 + i, str(i % 3), logging.INFO, f"line {40 + i}") for i in range(40)])
    model.append([LogLine(99.0, "", logging.WARNING, "station-wide")])
    assert model.rowCount() == 50 and model.lines[0].text == "line 31"
    proxy.set_slot("1")
    shown = [proxy.data(proxy.index(r, 3)) for r in range(proxy.rowCount())]
    assert shown[-1] == "station-wide"
    assert all(model.lines[proxy.mapToSource(proxy.index(r, 0)).row()].slot in ("1", "")
               for r in range(proxy.rowCount()))
    proxy.set_min_level(logging.WARNING)
    assert proxy.rowCount() == 1
    proxy.set_slot(ALL_SLOTS)
    proxy.set_min_level(logging.DEBUG)
    assert proxy.rowCount() == 50


def test_failure_chart_says_its_numbers(qtbot: QtBot) -> None:
    chart = FailureBars()
    qtbot.addWidget(chart)
    chart.set_data({"verify": 2, "functional-tests": 5, "flash": 0})
    assert chart.bars == [("functional-tests", 5), ("verify", 2)]
    assert chart.accessibleDescription() == "functional-tests: 5; verify: 2"
    chart.resize(300, 200)
    assert not chart.grab().isNull()
