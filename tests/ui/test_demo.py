"""``station gui --demo`` on fixture slots: the demo's hands can reach every slot's twin."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from station.sim.bench import Bench


def test_the_swd_demo_lists_its_slots_twins_and_reads_them_off_the_gui_thread(qtbot: QtBot, tmp_path: Path) -> None:
    from station.ui.app import GuiOptions, build_window

    window, demo = build_window(GuiOptions(demo=True, demo_transport="swd", demo_devices=2, auto_start=False,
                                           demo_root=tmp_path / "demo"))
    qtbot.addWidget(window)
    readers: list[str] = []
    names = demo.names

    def spied() -> list[str]:
        readers.append(threading.current_thread().name)
        return names()

    demo.names = spied  # type: ignore[method-assign]
    try:
        window.resize(1366, 768)
        window.show()
        qtbot.waitUntil(lambda: window.ready, timeout=60_000)
        controls: Any = window.demo_controls
        which = controls.which
        # the bench is made by the session opener, after the controls: the selector still fills
        qtbot.waitUntil(lambda: which.count() == 2, timeout=10_000)
        assert [which.itemText(i) for i in range(2)] == sorted(t.name for t in demo.twins)
        assert readers and threading.main_thread().name not in readers  # the bench folder is read by workers
        # the operator's hand acts on the twin chosen
        which.setCurrentIndex(1)
        chosen = which.currentText()
        qtbot.mouseClick(controls.probe_button, Qt.MouseButton.LeftButton)

        qtbot.waitUntil(lambda: not Bench(demo.bench_dir).get(chosen).state.probe_attached, timeout=10_000)
        assert which.currentText() == chosen  # the selection survives the refresh after the action
        assert Bench(demo.bench_dir).get(which.itemText(0)).state.probe_attached
    finally:
        if window.session is not None:
            window.session.stop_watching()
            window.session.cancel_all()
            window.session.wait(60)
        window._closing = None
        window.close()
        if window.session is not None:
            window.session.registry.close()
