"""Nothing an operator must read is cut off: every card state at once, at 1366×768 and 1080p.

The board is staged the way a shift looks (PASS, FAIL and ERROR with the core's real reasons,
RUNNING with its step bar, two questions, WAITING) on the real window, then every visible widget
is checked by :func:`station.ui.layoutcheck.clipped`: labels and buttons whose text is wider or
taller than their box, the banners' painted word and headline, widgets squeezed below their
minimum, and a window that grew past the size it was given (it would not fit the screen).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from station.ui.cardmodel import CardState, PromptView
from station.ui.layoutcheck import clipped

from .conftest import Station

#: reasons as the core words them (from runs against twins)
REASONS = {
    "battery": "battery: 3.10 V is below the minimum 3.50 V",
    "probe": "computing flash CRCs: the debug probe disconnected (probe SIM17969FA68AB0: target slot04 is "
             "not connected)",
    "registry": "registry unavailable: the station stopped at register, the device was left safe "
                "(connection refused)",
    "locked": "the chip is locked (APPROTECT); an engineer must confirm the recovery",
}


def stage(station: Station) -> None:
    b = station.window.board
    for i, slot in enumerate("1234567"):
        v = b.card(slot).view
        v.begin()
        v.device_id = f"e00fce68{0x1234567890ABCDEF + i:016x}"
        v.platform, v.serial_number = "boron", "PB0VXNN5RG42QTMX"
    b.card("1").view.finish("passed", failing_step=None, reason=None)
    b.card("2").view.finish("failed", failing_step="battery", reason=REASONS["battery"])
    b.card("3").view.finish("error", failing_step="verify", reason=REASONS["probe"], station_fault=True,
                            fault="probe-gone")  # the longest headline a card shows
    b.card("4").view.finish("error", failing_step="register", reason=REASONS["registry"], station_fault=True,
                            fault="registry-unavailable")
    b.card("5").view.step_started("flash-final")
    b.card("5").view.step_progress("flash-final", 0.4)
    for slot in "12345":
        b.card(slot).refresh()
    b.show_prompt("6", PromptView("p6", "Is the status LED green?", ("yes", "no"), 30))
    b.show_prompt("7", PromptView("p7", "Press the MODE button: does the RGB LED blink cyan?", ("yes", "no"), 30))
    b.card("8").view.finish("failed", failing_step="identify", reason=REASONS["locked"])
    b.card("8").refresh()


def _settled(window: QWidget) -> Callable[[], bool]:
    """A waitUntil condition: True once two looks at the window, an event-loop round apart and
    each after delivering every posted event (the layout requests), find every visible widget's
    geometry and font unchanged."""
    last: list[list[tuple[str, tuple[int, int, int, int], int, float]]] = []

    def look() -> bool:
        QApplication.sendPostedEvents()
        now = [(c.objectName(), c.geometry().getRect(), c.font().pixelSize(), c.font().pointSizeF())
               for c in window.findChildren(QWidget) if c.isVisible()]
        same = bool(last) and last[-1] == now
        last[:] = [now]
        return same

    return look


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_every_card_state_reads_in_full(qtbot: QtBot, station: Station, size: tuple[int, int]) -> None:
    # slot_workers pinned to thread: the board is staged by hand and no run starts, so the 8 worker
    # processes the window would pre-start for "auto" only cost (16 spawns over the two sizes, some
    # still starting in teardown); the layout is the same with either runner.
    w = station.open(8, slot_workers="thread")
    w.resize(*size)
    qtbot.waitUntil(lambda: w.size().width() == size[0] and w.size().height() == size[1])
    stage(station)
    # A card sets its fonts in resizeEvent and its layout follows on posted LayoutRequests, a few
    # event-loop rounds later: a fixed wait (it was 50 ms) read half-laid cards on a loaded machine
    # ('Slot 5' in a 36 px font in the 24 px box of the old one), and waiting for "nothing clipped"
    # passed on a half-laid board too (the device ID still in the 10 px font fitted to a card not
    # yet grown). The board is read once its layout has settled: no geometry or font changed over
    # a round of the event loop after every posted event was delivered.
    qtbot.waitUntil(_settled(w), timeout=10_000)
    assert clipped(w, check_screen=False) == []
    assert (w.width(), w.height()) == size, "the cards asked for more room than the screen has"
    states = {s: c.view.state for s, c in w.board.cards.items()}
    assert states["3"] is CardState.ERROR and states["2"] is CardState.FAIL
    # The device ID has its own line at a size read across the room.
    card = w.board.card("3")
    assert card.id_label.text() == card.view.device_id and card.id_label.font().pixelSize() >= 16
    assert card.reason_label.text() == "While checking firmware — computing flash CRCs: the debug probe disconnected"


def test_the_check_finds_cut_text(qtbot: QtBot) -> None:
    """The check is real: a label too narrow for its text, and a banner whose headline cannot fit."""
    from station.ui.slotcard import StateBanner

    box = QWidget()
    qtbot.addWidget(box)
    lay = QVBoxLayout(box)
    cut = QLabel("demo-boron-20261202-demo-station")
    cut.setFixedWidth(60)
    banner = StateBanner()
    banner.show_state(CardState.ERROR, "Station problem while checking the firmware: call an engineer now")
    banner.setFixedSize(160, 48)
    lay.addWidget(cut)
    lay.addWidget(banner)
    box.show()
    qtbot.waitExposed(box)
    found = clipped(box, check_screen=False)
    assert any("demo-boron-20261202" in p and "is cut" in p for p in found), found
    assert any("headline" in p for p in found), found
