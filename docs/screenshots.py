"""Screenshots of the window in the middle of a lot, for the README and docs (not a test).

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshots.py --size 1366x768
    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/screenshots.py --size 1920x1080

Runs the real window (``station gui --demo --demo-transport swd``: eight fixture slots on realtime
twins) through an X server, and stages a lot the way a shift looks: slots that passed, one whose
unit fails its battery test, one whose board is pulled mid-flash, one whose probe cable comes off
(a station fault), slots still running, one asking the operator, one waiting. When all of those are
on screen at once it grabs the screen (what X shows, not an offscreen render) to
``docs/gui-<W>x<H>.png``, and the lot tab to ``docs/gui-lot-<W>x<H>.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1366x768")
    ap.add_argument("--out", type=Path, default=DOCS)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    w, h = (int(x) for x in args.size.split("x"))

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from station.ui import theme
    from station.ui.app import GuiOptions, build_window
    from station.ui.cardmodel import CardState
    from station.ui.layoutcheck import clipped

    app = QApplication([sys.argv[0]])
    theme.apply_theme(app)
    window, demo = build_window(GuiOptions(demo=True, demo_transport="swd", demo_devices=8, realtime=True,
                                           auto_start=False))
    window.setGeometry(0, 0, w, h)
    window.showMaximized() if app.platformName() == "xcb" else window.show()
    t0 = time.monotonic()
    stage: dict[str, float] = {}
    answered: set[str] = set()

    def later(name: str, seconds: float) -> bool:
        """True once, ``seconds`` after the board is ready."""
        if name in stage or time.monotonic() - stage.get("ready", 1e18) < seconds:
            return False
        stage[name] = time.monotonic()
        return True

    def card(slot: str):  # type: ignore[no-untyped-def]
        return window.board.card(slot)

    def step() -> None:
        if not window.ready:
            return
        stage.setdefault("ready", time.monotonic())
        twins = {str(i + 1): t for i, t in enumerate(demo.twins)}
        if later("first", 0):
            twins["3"].set_faults(measurement_overrides={"battery": 3.1})  # this unit's battery is flat
            for s in ("1", "2", "3", "4", "7"):
                window.start_slot(s)
        if later("second", 9):
            for s in ("5", "6"):
                window.start_slot(s)
        c7 = card("7")
        if c7 is not None and c7.view.step == "flash" and later("probe7", 3):
            demo.pull_probe(twins["7"].name)
        c4 = card("4")
        if c4 is not None and c4.view.step == "flash" and later("unplug4", 2):
            demo.unplug(twins["4"].name)
        for s in ("1", "2", "3"):
            c = card(s)
            if c is not None and c.view.prompt is not None and c.view.prompt.prompt_id not in answered:
                answered.add(c.view.prompt.prompt_id)
                c.prompt_panel.answer("yes")
        states = {s: (card(s).view.state if card(s) else None) for s in map(str, range(1, 9))}
        prompting = any(card(s) is not None and card(s).view.prompt is not None for s in ("5", "6"))
        running = sum(st is CardState.RUNNING for st in states.values())
        finished = [states[s] for s in ("1", "2", "3", "4", "7")]
        if all(st is not None and st is not CardState.RUNNING for st in finished) and prompting and running >= 1:
            shoot()
        if time.monotonic() - t0 > 300:
            print("gave up waiting for the scene:", states, file=sys.stderr)
            app.exit(1)

    def shoot() -> None:
        timer.stop()
        app.processEvents()
        for problem in clipped(window):
            print("clipped:", problem, file=sys.stderr)
        screen = app.primaryScreen()
        board = screen.grabWindow(0) if app.platformName() == "xcb" else window.grab()
        path = args.out / f"gui-{w}x{h}.png"
        board.save(str(path))
        print("wrote", path, {s: str(c.view.state) for s, c in window.board.cards.items()})
        for s, c in window.board.cards.items():
            if c.view.reason:
                print(f"  slot {s}: {c.view.state.name} at {c.view.failing_step}: {c.view.reason}")
        window.tabs.setCurrentWidget(window.lot_panel)
        window.refresh_lot()
        QTimer.singleShot(1500, shoot_lot)

    def shoot_lot() -> None:
        app.processEvents()
        screen = app.primaryScreen()
        pm = screen.grabWindow(0) if app.platformName() == "xcb" else window.grab()
        path = args.out / f"gui-lot-{w}x{h}.png"
        pm.save(str(path))
        print("wrote", path)
        window.session.cancel_all()
        window.session.wait(60)
        window.close()
        app.quit()

    timer = QTimer()
    timer.setInterval(100)
    timer.timeout.connect(step)
    timer.start()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
