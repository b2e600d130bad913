"""A window that drives itself through one round of its slots: the smoke test of an installed
station (the wheel in a fresh venv, the one-folder bundle) where no one sits at the screen.

``station gui --demo --demo-answer yes --quit-after 240`` opens the normal window, starts every
slot that auto-start has not started, answers each operator question with the given choice the
way a click on the card would (through the window's own ``answer_prompt``), and once every slot
has a result prints one line per slot and leaves: exit 0 when all show PASS, 1 otherwise, 1 when
``--quit-after`` seconds pass first (the slots are then stopped at a step boundary). Nothing here
fakes a result: the verdicts are the cards' own, as the operator would read them.

Leaving is ``QApplication.exit`` by default, which is right only under ``app.exec()``: called
outside it (a test driving the window in a shared QApplication) Qt keeps the exit pending, and
every later ``QEventLoop.exec()`` of the process returns at once without delivering an event,
so each later wait spins until it times out. A caller that owns no event loop passes ``leave``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from station.ui.cardmodel import CardState

#: a card in one of these states has finished its unit
FINISHED = frozenset({CardState.PASS, CardState.FAIL, CardState.ERROR, CardState.STOPPED, CardState.DONE_BEFORE})
#: how long auto-start gets to start the slots itself before they are started like a click would
AUTO_START_GRACE_S = 2.0
#: after --quit-after, how long stopping at a step boundary may take before the app leaves anyway
STOP_GRACE_S = 30.0


class SmokeDriver(QObject):
    def __init__(self, window: Any, *, answer: str | None, quit_after: float | None,
                 out: TextIO = sys.stdout, leave: Callable[[int], None] | None = None) -> None:
        super().__init__(window)
        self.window, self.answer, self.out = window, answer, out
        self.leave = leave or _exit_app
        self.quit_after = quit_after
        self.t0 = time.monotonic()
        self.ready_at: float | None = None
        self.kicked = False
        self.answered: set[str] = set()
        self.exit_code: int | None = None
        self.stopping_since: float | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(200)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def _say(self, text: str) -> None:
        print(f"gui smoke: {text}", file=self.out, flush=True)

    def poll(self) -> None:
        w, now = self.window, time.monotonic()
        if self.stopping_since is not None:
            if not w.isVisible() or now - self.stopping_since > STOP_GRACE_S:
                self._leave()
            return
        if self.quit_after is not None and now - self.t0 > self.quit_after:
            self._report()
            self._say(f"{self.quit_after:g} s passed before every slot had a result")
            self._stop(1)
            return
        if not w.ready:
            return
        if self.ready_at is None:
            self.ready_at = now
            self._say(f"window ready after {now - self.t0:.1f} s")
        cards = dict(w.board.cards)
        if not self.kicked and now - self.ready_at >= AUTO_START_GRACE_S:
            self.kicked = True
            for slot, card in cards.items():
                if card.view.state is CardState.WAITING:
                    w.start_slot(slot)
        for slot, card in cards.items():
            prompt = card.view.prompt
            if self.answer and prompt is not None and prompt.prompt_id not in self.answered:
                if self.answer in prompt.choices:
                    self.answered.add(prompt.prompt_id)
                    self._say(f"{w.slot_title(slot)} asks {prompt.question!r}: answering {self.answer}")
                    w.answer_prompt(slot, prompt.prompt_id, self.answer)
        if self.kicked and cards and all(c.view.state in FINISHED for c in cards.values()):
            self._report()
            passed = all(c.view.state is CardState.PASS for c in cards.values())
            self._say(f"{sum(c.view.state is CardState.PASS for c in cards.values())}/{len(cards)} slots PASS "
                      f"in {now - self.t0:.1f} s")
            self._stop(0 if passed else 1)

    def _report(self) -> None:
        for slot, card in self.window.board.cards.items():
            v = card.view
            detail = v.device_id or ""
            if v.state is not CardState.PASS and v.reason:
                detail += f" ({v.reason})"
            self._say(f"{self.window.slot_title(slot)}: {v.state.value.upper()} {detail}".rstrip())

    def _stop(self, code: int) -> None:
        self.exit_code = code
        self.stopping_since = time.monotonic()
        if self.window.session is not None and self.window.session.active():
            self.window.begin_close()
        else:
            self.window.close()

    def _leave(self) -> None:
        self.timer.stop()
        self.leave(self.exit_code if self.exit_code is not None else 1)


def _exit_app(code: int) -> None:
    """End ``app.exec()`` of ``station gui`` with the smoke test's verdict as its exit status."""
    app = QApplication.instance()
    if app is not None:
        app.exit(code)
