"""Screenshots of the window's dialogs (settings, users and PINs, profiles, a device's record), not a test.

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/dialog_screenshots.py --size 1366x768

Opens the demo window (``station gui --demo``: an open station, so whoever is there is admin),
provisions one twin so the record has something to show, then opens each dialog over the window
and grabs the screen (what X shows) to ``docs/gui-<dialog>-<W>x<H>.png``. ``--only NAME`` takes
one of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1366x768")
    ap.add_argument("--out", type=Path, default=DOCS)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    w, h = (int(x) for x in args.size.split("x"))

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from station.ui import theme
    from station.ui.app import GuiOptions, build_window
    from station.ui.cardmodel import CardState

    app = QApplication([sys.argv[0]])
    theme.apply_theme(app)
    window, _demo = build_window(GuiOptions(demo=True, demo_transport="usb", demo_devices=1, auto_start=True))
    window.setGeometry(0, 0, w, h)
    window.showMaximized() if app.platformName() == "xcb" else window.show()
    state: dict[str, Any] = {"phase": "opening", "shots": [], "wait": 0}

    def grab(name: str) -> None:
        path = args.out / f"gui-{name}-{w}x{h}.png"
        screen = app.primaryScreen()
        screen.grabWindow(0).save(str(path))
        state["shots"].append(path)
        print(path)

    def settings_operator() -> Any:
        window.set_user("olga", "operator")
        d = window.menus.open_settings()
        state["select"] = (d, "swd_frequency")
        return d

    def settings_engineer() -> Any:
        window.set_user("eve", "engineer")
        d = window.menus.open_settings()
        state["select"] = (d, "swd_frequency")
        return d

    def users() -> Any:
        window.set_user("ada", "admin")
        return window.menus.open_users()

    def profiles() -> Any:
        window.set_user("eve", "engineer")
        window.menus.open_profiles()  # the folder is looked up in a worker first
        import time

        end = time.monotonic() + 20
        while window.menus.profiles_dialog is None and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.05)
        d = window.menus.profiles_dialog
        if d is not None:
            state["select"] = (d, "demo-boron.toml")
        return d

    def record() -> Any:
        card = next(iter(window.board.cards.values()))
        return window.open_record(card.view.device_id)

    dialogs: list[tuple[str, Callable[[], Any]]] = [
        ("settings-operator", settings_operator), ("settings-engineer", settings_engineer), ("users", users),
        ("profiles", profiles), ("record", record)]
    if args.only:
        dialogs = [d for d in dialogs if d[0] == args.only]

    def step() -> None:
        if not window.ready:
            return
        if state["phase"] == "opening":
            window.set_user("demo", "admin")
            state["phase"] = "provisioning"
            if not window.board.cards:
                window.demo_controls.plug()  # type: ignore[union-attr]
            return
        if state["phase"] == "provisioning":
            cards = list(window.board.cards.items())
            state["ticks"] = state.get("ticks", 0) + 1
            if state["ticks"] % 20 == 0:
                print("waiting:", [(n, c.view.state, c.view.step) for n, c in cards],
                      window.message.text(), flush=True)
            if not cards or cards[0][1].view.state is not CardState.PASS:
                for n, c in cards:
                    if c.view.prompt is not None:
                        window.answer_prompt(n, c.view.prompt.prompt_id, "yes")
                return
            state["phase"] = "dialogs"
            return
        if state["phase"] == "dialogs":
            current = state.get("dialog")
            if current is not None:
                if state["wait"] > 0:
                    state["wait"] -= 1
                    edit = state.get("edit")
                    if edit is not None and state["wait"] == 5 and not edit.busy:
                        text = edit.editor.toPlainText().replace("dpi = 300", "dpi = 30")
                        edit.editor.setPlainText(text)
                        edit.check()
                    if edit is not None and state["wait"] == 2 and edit.problems:
                        edit.problem_list.setCurrentRow(0)
                        state.pop("edit")
                    if state["wait"] == 0:
                        grab(state["name"])
                        current.close()
                        state["dialog"] = None
                    return
                select = state.pop("select", None)
                if select is not None and select[0].model.rowCount():
                    select[0].select(select[1])
                if state["name"] == "profiles":  # an edit the check refuses, with its line
                    state["edit"] = current
                state["wait"] = 8
                return
            if not dialogs:
                app.quit()
                return
            name, opener = dialogs.pop(0)
            d = opener()
            if d is None:
                print(f"{name}: no dialog yet")
                return
            d.move(40, 40)
            state.update(dialog=d, name=name, wait=0)

    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(250)
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    window._closing = None  # type: ignore[assignment]
    window.close()
    return 0 if state["shots"] else 1


if __name__ == "__main__":
    sys.exit(main())
