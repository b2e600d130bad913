"""The bridge delivers core events on the GUI thread, in slot order; workers return (result, error)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, QThread, Slot
from pytestqt.qtbot import QtBot

from station.pipeline.events import Event
from station.ui.bridge import BridgeLogHandler, EventBridge
from station.ui.workers import Workers, serial_pool


class Receiver(QObject):
    def __init__(self, bridge: EventBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.seen: list[tuple[str, str, str | None, float | None]] = []
        self.threads: set[bool] = set()
        self.logs: list[str] = []

    @Slot(object)
    def on_event(self, ev: Any) -> None:
        self.threads.add(QThread.currentThread() is self.thread())
        self.seen.append((ev.slot, ev.kind, ev.step, ev.fraction))

    @Slot()
    def on_progress(self) -> None:
        for ev in self.bridge.take_progress():
            self.on_event(ev)

    @Slot()
    def on_logs(self) -> None:
        self.logs += [r.getMessage() for r in self.bridge.take_logs()]


def test_events_from_slot_threads_arrive_on_the_gui_thread_in_order_with_progress_coalesced(qtbot: QtBot) -> None:
    bridge = EventBridge()
    rx = Receiver(bridge)
    bridge.coreEvent.connect(rx.on_event)
    bridge.progressReady.connect(rx.on_progress)

    def slot(name: str) -> None:
        for step in ("flash", "verify"):
            bridge(Event("step_started", name, step=step))
            for i in range(500):
                bridge(Event("step_progress", name, step=step, fraction=i / 499))
            bridge(Event("step_finished", name, step=step, outcome="passed"))
        bridge(Event("attempt_finished", name, outcome="passed"))

    threads = [threading.Thread(target=slot, args=(str(n),)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    qtbot.waitUntil(lambda: sum(1 for s in rx.seen if s[1] == "attempt_finished") == 8)
    qtbot.wait(20)
    assert rx.threads == {True}
    for n in range(8):
        mine = [s for s in rx.seen if s[0] == str(n)]
        kinds = [k for _, k, _, _ in mine if k != "step_progress"]
        assert kinds == ["step_started", "step_finished", "step_started", "step_finished", "attempt_finished"]
        # no progress of a step after that step finished, and far fewer than 1000 deliveries
        current = None
        for _, kind, step, _ in mine:
            if kind == "step_started":
                current = step
            elif kind == "step_finished":
                current = None
            elif kind == "step_progress":
                assert step == current
        assert len(mine) < 200
        last_flash = [f for _, k, st, f in mine if k == "step_progress" and st == "flash"]
        assert last_flash and last_flash[-1] == 1.0


def test_log_records_reach_the_gui_in_batches(qtbot: QtBot) -> None:
    bridge = EventBridge()
    rx = Receiver(bridge)
    bridge.logReady.connect(rx.on_logs)
    log = logging.getLogger("station.test-bridge")
    handler = BridgeLogHandler(bridge)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        t = threading.Thread(target=lambda: [log.info("line %d", i) for i in range(300)])
        t.start()
        t.join()
        qtbot.waitUntil(lambda: len(rx.logs) == 300)
        assert rx.logs[0] == "line 0" and rx.logs[-1] == "line 299"
    finally:
        log.removeHandler(handler)


def test_a_worker_returns_its_result_or_its_error_on_the_gui_thread(qtbot: QtBot) -> None:
    workers = Workers(serial_pool())
    got: list[tuple[Any, Any, bool]] = []
    gui = QThread.currentThread()

    def done(result: Any, error: BaseException | None) -> None:
        got.append((result, error, QThread.currentThread() is gui))

    def boom() -> None:
        raise ValueError("bad page")

    workers.submit(lambda: threading.current_thread().name, done)
    workers.submit(boom, done)
    qtbot.waitUntil(lambda: len(got) == 2)
    (r1, e1, on_gui1), (r2, e2, on_gui2) = got
    assert e1 is None and r1 != threading.current_thread().name and on_gui1
    assert r2 is None and isinstance(e2, ValueError) and on_gui2
    assert not workers.busy
