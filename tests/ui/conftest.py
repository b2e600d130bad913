"""GUI tests: headless (QT_QPA_PLATFORM=offscreen), one QApplication per session (pytest-qt).

They need the ``gui`` extra; without PySide6 they are skipped with that reason (CI installs it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.sim.bench import Bench

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6", reason="the GUI tests need the gui extra: pip install -e '.[gui,test]'")
pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt (test extra)")

REPO = Path(__file__).resolve().parents[2]
DEMO_BORON = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


@pytest.fixture(scope="session")
def _gui_cache_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gui-cache")
    install_demo_firmware(FirmwareCache(root), "boron")
    return root


@pytest.fixture
def gui_cache(tmp_path: Path, _gui_cache_template: Path) -> Path:
    import shutil

    root = tmp_path / "cache"
    shutil.copytree(_gui_cache_template, root)
    return root


class Station:
    """A real window on real twins: SWD slots from a station.toml, or a USB bench."""

    def __init__(self, qtbot: Any, bench: Bench, cache: Path, tmp: Path) -> None:
        self.qtbot, self.bench, self.cache, self.tmp = qtbot, bench, cache, tmp
        self.window: Any = None
        self.db_url = f"sqlite:///{tmp / 'station.db'}"

    def open(self, slots: int = 0, *, usb: bool = False, profile: Path = DEMO_BORON, auto_start: bool = False,
             operator: str = "tester", twins: list[Any] | None = None, slot_workers: str | None = None) -> Any:
        """The window on ``slots`` new twins (or ``twins``). ``slot_workers`` goes into the station's
        station.toml; unset, the window runs on the default ("auto": a worker process per slot from
        its pre-start once two or more slots are listed)."""
        from station.ui.app import GuiOptions, session_opener
        from station.ui.window import MainWindow

        if twins is None:
            twins = self.bench.create(slots, seed=1234) if slots else []
        self.twins = twins
        config = self.tmp / "station.toml"
        lines = ["[station]", 'name = "gui-test"'] + ([f'slot_workers = "{slot_workers}"'] if slot_workers else [])
        if twins and not usb:
            lines += ["[slots]"] + [f'"{i + 1}" = "{t.identity.probe_uid}"' for i, t in enumerate(twins)]
        config.write_text("\n".join(lines) + "\n")
        opts = GuiOptions(db_url=self.db_url, cache_dir=self.cache, config_path=config, sim_dir=self.bench.path,
                          labels_dir=self.tmp / "labels", usb=usb)
        self.window = MainWindow(session_opener(opts), profile=profile, operator=operator, auto_start=auto_start,
                                 scale=1.0, export_dir=self.tmp)
        self.qtbot.addWidget(self.window)
        self.window.resize(1366, 768)
        self.window.show()
        self.qtbot.waitUntil(lambda: self.window.ready, timeout=30_000)
        return self.window

    def card(self, slot: str) -> Any:
        card = self.window.board.card(slot)
        assert card is not None, f"no card for slot {slot}: {list(self.window.board.cards)}"
        return card

    def wait_state(self, slot: str, *states: Any, timeout: float = 90) -> Any:
        self.qtbot.waitUntil(lambda: self.window.board.card(slot) is not None
                             and self.window.board.card(slot).view.state in states, timeout=int(timeout * 1000))
        return self.card(slot)

    def wait_prompt(self, slot: str, timeout: float = 90) -> Any:
        self.qtbot.waitUntil(lambda: self.window.board.card(slot) is not None
                             and self.window.board.card(slot).view.prompt is not None, timeout=int(timeout * 1000))
        return self.card(slot)

    def wait_step(self, slot: str, step: str, timeout: float = 90) -> None:
        self.qtbot.waitUntil(lambda: self.window.board.card(slot) is not None
                             and self.window.board.card(slot).view.step == step, timeout=int(timeout * 1000))

    def close(self) -> None:
        w = self.window
        if w is None:
            return
        if w.session is not None:
            w.session.stop_watching()
            w.session.cancel_all()
            w.session.wait(60)
        w._closing = None  # a run that outlived the wait (a loaded machine) must not leave a modal question open
        w.close()
        if w.session is not None:
            w.session.registry.close()


@pytest.fixture(autouse=True)
def _event_loop_still_runs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that left the shared QApplication exiting, not the ones after it.

    ``QApplication.exit()``/``quit()`` called outside ``app.exec()`` (pytest-qt never runs it) stays
    pending: every later ``QEventLoop.exec()`` returns at once without delivering an event, so
    ``qtbot.waitUntil`` spins and each later test times out (a smoke driver did this: the last 13
    tests of the package failed in ``Station.open``). ``app.exec()`` clears the pending exit.
    """
    yield
    if "qapp" not in request.fixturenames and "qtbot" not in request.fixturenames:
        return
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    delivered: list[bool] = []
    loop = QEventLoop()
    QTimer.singleShot(0, lambda: delivered.append(True))
    QTimer.singleShot(0, loop.quit)
    if loop.exec() == -1 and not delivered:
        QTimer.singleShot(0, app.quit)
        app.exec()  # clears the pending exit for the tests that follow
        pytest.fail("this test left QApplication exiting (exit() or quit() outside app.exec()): "
                    "every later event loop of the process would return at once")


@pytest.fixture
def station(qtbot: Any, station_bench: Bench, gui_cache: Path, tmp_path: Path) -> Iterator[Station]:
    s = Station(qtbot, station_bench, gui_cache, tmp_path)
    yield s
    s.close()


def wedge(target: Any, text: str, *, gap_ms: int = 4, enter: bool = True,
          between: Callable[[int], None] | None = None) -> None:
    """Type ``text`` into ``target`` as a keyboard-wedge scanner does: key events ``gap_ms`` apart
    by the window system's timestamps (``QInputEvent.timestamp()``), then Enter.

    ``qtbot.keyClicks`` sends unstamped events, so the scan detector times them by when the test
    process delivers them, and a loaded machine that takes this process off the CPU mid-burst
    turns a scan into typing. ``between(i)`` runs before key ``i`` (a delay, to show that).
    """
    import time

    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    stamp = int(time.monotonic() * 1000)
    keys = [(ord(c.upper()), c) for c in text] + ([(int(Qt.Key.Key_Return), "\r")] if enter else [])
    for i, (key, char) in enumerate(keys):
        if between is not None:
            between(i)
        stamp += gap_ms
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            ev = QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, char)
            ev.setTimestamp(stamp)
            QApplication.sendEvent(target, ev)


def profile_variant(tmp: Path, edit: Callable[[str], str], name: str = "variant.toml") -> Path:
    p = tmp / name
    p.write_text(edit(DEMO_BORON.read_text()))
    return p
