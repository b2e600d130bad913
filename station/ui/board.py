"""The slot board: one card per fixture slot (line) or per USB device (bench), laid out to fill.

Cards are keyed by **slot name** — the identity ``station.toml`` gives a probe, or a USB device's
ID on a bench — never by the order probes enumerate in, so "slot 3" is always the same card in the
same place. The grid picks the column count that makes cards largest for the board's shape.

Prompts: the keyboard answers the prompt of the card that has focus. When a prompt opens and no
other prompt holds the focus, its card takes the focus; while the operator is on one prompt, a
second slot's prompt never moves the focus away (so a key meant for slot 1 cannot land on slot 2).
When the focused prompt closes, the focus moves to the oldest prompt still open.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from station.ui.cardmodel import PromptView, SlotView
from station.ui.slotcard import SlotCard


def best_columns(n: int, width: int, height: int, aspect: float = 1.15) -> int:
    """Columns that give the largest cards of roughly ``aspect`` (w/h) for ``n`` cards."""
    if n <= 1:
        return 1
    best, best_side = 1, 0.0
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        w = width / cols
        h = height / rows
        side = min(w / aspect, h)  # the card height a card of that aspect can have
        if side > best_side + 1e-9:
            best, best_side = cols, side
    return best


class SlotBoard(QWidget):
    # re-emitted from the cards, with the slot name
    startRequested = Signal(str)
    stopRequested = Signal(str)
    retryRequested = Signal(str)
    recordRequested = Signal(str)
    recoverRequested = Signal(str)
    recoverRefused = Signal(str)
    answered = Signal(str, str, str)  # slot, prompt id, choice

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: dict[str, SlotCard] = {}
        self.recover_allowed: tuple[bool, str] = (False, "")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(6, 6, 6, 6)
        self.grid.setSpacing(8)
        self.empty = QLabel("No slots: connect a probe (line) or plug a device in (bench).")
        self.empty.setWordWrap(True)
        self.grid.addWidget(self.empty, 0, 0)
        self._columns = 0
        self._order: list[str] = []
        self._phase = 0.0
        self._prompt_order: list[str] = []  # slots with an open prompt, oldest first
        self.animation = QTimer(self)
        self.animation.setInterval(100)
        self.animation.timeout.connect(self._animate)
        self.animation.start()

    # ------------------------------------------------------------------ cards
    def set_slots(self, slots: Iterable[tuple[str, str, str]]) -> None:
        """(slot name, title, transport) for every slot, in the order they should be shown."""
        wanted = list(slots)
        names = [s for s, _, _ in wanted]
        for name in [n for n in self.cards if n not in names]:
            self.remove_slot(name)
        for name, title, transport in wanted:
            if name not in self.cards:
                self._add(SlotView(name, title=title, transport=transport))
        self._order = names
        self._relayout(force=True)

    def add_slot(self, name: str, title: str, transport: str) -> SlotCard:
        """A USB device appeared on the bench: it gets a card at the end of the board."""
        if name in self.cards:
            return self.cards[name]
        card = self._add(SlotView(name, title=title, transport=transport))
        self._order = [*self._order, name]
        self._relayout(force=True)
        return card

    def remove_slot(self, name: str) -> None:
        card = self.cards.pop(name, None)
        if card is None:
            return
        self.grid.removeWidget(card)
        card.deleteLater()
        self._order = [n for n in self._order if n != name]
        self._prompt_order = [n for n in self._prompt_order if n != name]
        self._relayout(force=True)

    def _add(self, view: SlotView) -> SlotCard:
        card = SlotCard(view, self)
        card.startRequested.connect(self.startRequested)
        card.stopRequested.connect(self.stopRequested)
        card.retryRequested.connect(self.retryRequested)
        card.recordRequested.connect(self.recordRequested)
        card.recoverRequested.connect(self.recoverRequested)
        card.recoverRefused.connect(self.recoverRefused)
        card.answered.connect(self.answered)
        card.recover_button.set_allowed(*self.recover_allowed)
        self.cards[view.slot] = card
        return card

    def set_recover_allowed(self, allowed: bool, why: str) -> None:
        """Lock or unlock every card's (and every future card's) Recover button."""
        self.recover_allowed = (allowed, why)
        for card in self.cards.values():
            card.recover_button.set_allowed(allowed, why)

    def card(self, slot: str) -> SlotCard | None:
        return self.cards.get(slot)

    def views(self) -> list[SlotView]:
        return [c.view for c in self.cards.values()]

    def _relayout(self, force: bool = False) -> None:
        order = [n for n in self._order if n in self.cards]
        self.empty.setVisible(not order)
        if not order:
            return
        cols = best_columns(len(order), max(1, self.width()), max(1, self.height()))
        if cols == self._columns and not force:
            return
        self._columns = cols
        for card in self.cards.values():
            self.grid.removeWidget(card)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 0)
        for r in range(self.grid.rowCount()):
            self.grid.setRowStretch(r, 0)
        for i, name in enumerate(order):
            self.grid.addWidget(self.cards[name], i // cols, i % cols)
        for c in range(cols):
            self.grid.setColumnStretch(c, 1)
        for r in range(math.ceil(len(order) / cols)):
            self.grid.setRowStretch(r, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    # ------------------------------------------------------------------ events
    def apply(self, ev: object) -> SlotCard | None:
        """Fold a core event into its slot's card (a card is made for a slot not seen yet)."""
        slot = str(getattr(ev, "slot", ""))
        card = self.cards.get(slot)
        if card is None:
            transport = str(getattr(ev, "data", {}).get("transport", "") if getattr(ev, "data", None) else "")
            card = self.add_slot(slot, slot, transport)
        card.view.apply(ev)
        card.refresh()
        return card

    def show_prompt(self, slot: str, prompt: PromptView) -> None:
        card = self.cards.get(slot)
        if card is None:
            return
        card.view.prompt = prompt
        card.refresh()
        if slot not in self._prompt_order:
            self._prompt_order.append(slot)
        if not self._focused_prompt_slot():
            card.setFocus()

    def close_prompt(self, slot: str, prompt_id: str) -> None:
        card = self.cards.get(slot)
        if card is None or card.view.prompt is None or card.view.prompt.prompt_id != prompt_id:
            return
        had_focus = self._focused_prompt_slot() == slot
        card.view.prompt = None
        card.refresh()
        self._prompt_order = [s for s in self._prompt_order if s != slot]
        if had_focus and self._prompt_order:
            nxt = self.cards.get(self._prompt_order[0])
            if nxt is not None:
                nxt.setFocus()

    def _focused_prompt_slot(self) -> str | None:
        """The slot whose open prompt the keyboard is on (its card or a widget inside it)."""
        # The window's focus child, not the application's: while a dialog is active the latter is
        # in the dialog, and a second prompt would take the focus the operator left on the first.
        fw = self.window().focusWidget()
        if fw is None:
            return None
        for slot in self._prompt_order:
            card = self.cards.get(slot)
            if card is not None and (card is fw or card.isAncestorOf(fw)):
                return slot
        return None

    # ------------------------------------------------------------------ timers
    def tick(self) -> None:
        for card in self.cards.values():
            card.tick()

    def _animate(self) -> None:
        self._phase = (self._phase + 0.08) % 1.0
        for card in self.cards.values():
            card.animate(self._phase)
