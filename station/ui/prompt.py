"""An operator prompt on its slot's card: the question, big answer buttons, a visible countdown.

Answers go out with the prompt's id, so an answer can only ever reach the prompt it was given
for: a second slot asking the same question has another id and another panel. Keys (Y, N, Enter)
act only on the panel whose card has the keyboard focus, and answering keeps the focus on that
card (the board moves it on once the core has closed the prompt).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QKeyEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from station.ui import theme
from station.ui.cardmodel import PromptView
from station.ui.icons import paint_icon
from station.ui.stepbar import StepBar

#: Keys that answer a prompt, by the first letter of the choice.
_KEY_TEXT = {"yes": "Y", "no": "N", "ok": "Enter", "pass": "P", "fail": "F"}


def choice_label(choice: str) -> str:
    key = _KEY_TEXT.get(choice.lower(), choice[:1].upper())
    return f"{choice.upper()}  ({key})"


class _QuestionMark(QWidget):
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        paint_icon(p, "question", QRectF(self.rect()), QColor("#000000"))
        p.end()


class PromptPanel(QFrame):
    answered = Signal(str, str)  # prompt id, choice

    def __init__(self, slot: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.prompt: PromptView | None = None
        self._size = (240, 100)  # the card sets its real room (fit) before the first question
        self.setObjectName("promptPanel")
        self.setStyleSheet(
            f"#promptPanel {{ background: {theme.PROMPT_BG}; border: 3px solid #000000; border-radius: 10px; }}"
            "#promptPanel QLabel { color: #000000; background: transparent; }"
            "#promptPanel QPushButton { background: #FFFFFF; border: 3px solid #000000; font-weight: bold; }"
            "#promptPanel QPushButton:focus { border: 5px solid #0072B2; }"
        )
        self.icon = _QuestionMark()
        self.icon.setFixedSize(40, 40)
        self.question = QLabel()
        self.question.setWordWrap(True)
        self.question.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.buttons: list[QPushButton] = []
        self.button_row = QHBoxLayout()
        self.countdown = StepBar(chunk="#000000", border="#000000")  # drains; repaints with the loop
        self.countdown_label = QLabel()
        self.countdown.setFixedHeight(10)
        self.countdown_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top = QHBoxLayout()
        top.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.question, 1)
        # Buttons and the seconds left share a row; a thin bar under them drains to zero.
        answers = QHBoxLayout()
        answers.addLayout(self.button_row, 4)
        answers.addWidget(self.countdown_label, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(4)
        lay.addLayout(top, 1)
        lay.addLayout(answers)
        lay.addWidget(self.countdown)

    def show_prompt(self, prompt: PromptView) -> None:
        if self.prompt is not None and self.prompt.prompt_id == prompt.prompt_id:
            return
        self.clear()
        self.prompt = prompt
        self.question.setText(prompt.question)
        for choice in prompt.choices:
            b = QPushButton(choice_label(choice))
            b.setProperty("choice", choice)
            b.setAccessibleName(f"answer {choice} on slot {self.slot}")
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            b.clicked.connect(self._clicked)
            self.button_row.addWidget(b)
            self.buttons.append(b)
        self.setAccessibleName(f"Slot {self.slot} asks: {prompt.question}")
        self.fit(*self._size)
        self.tick()

    def clear(self) -> None:
        self.prompt = None
        for b in self.buttons:
            self.button_row.removeWidget(b)
            b.deleteLater()
        self.buttons = []

    def _clicked(self) -> None:
        b = self.sender()
        if isinstance(b, QPushButton):
            self.answer(str(b.property("choice")))

    def answer(self, choice: str) -> None:
        """Send the answer once; the core closes the prompt and the card drops the panel."""
        if self.prompt is None or choice not in self.prompt.choices:
            return
        prompt_id = self.prompt.prompt_id
        focused = self.focusWidget()
        if focused is not None and self.isAncestorOf(focused):
            # Disabling a focused button hands the focus on along the tab chain, which runs into
            # the next slot's answer buttons: a second Enter would answer that slot. The card
            # keeps it instead, and the board moves it on when this prompt closes.
            card = self.parentWidget()
            if card is not None:
                card.setFocus(Qt.FocusReason.OtherFocusReason)
        for b in self.buttons:
            b.setEnabled(False)
        self.answered.emit(prompt_id, choice)

    def handle_key(self, event: QKeyEvent) -> bool:
        if self.prompt is None or not any(b.isEnabled() for b in self.buttons):
            return False
        text = event.text().lower()
        choices = [c.lower() for c in self.prompt.choices]
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focused = next((b for b in self.buttons if b.hasFocus()), None)
            if focused is not None:
                self.answer(str(focused.property("choice")))
                return True
            if len(choices) == 1:
                self.answer(self.prompt.choices[0])
                return True
            return False
        for c, original in zip(choices, self.prompt.choices, strict=True):
            if text and _KEY_TEXT.get(c, c[:1].upper()).lower() == text:
                self.answer(original)
                return True
        return False

    def tick(self) -> None:
        p = self.prompt
        if p is None:
            return
        left = p.remaining()
        if math.isinf(left):
            self.countdown.hide()
            self.countdown_label.setText("")
            return
        self.countdown.show()
        self.countdown.setValue(int(1000 * left / p.timeout_s) if p.timeout_s else 0)
        self.countdown_label.setText(f"{math.ceil(left)} s" if left > 0 else "time up")
        self.countdown_label.setToolTip(f"{math.ceil(left)} seconds left to answer")

    def fit(self, w: int, h: int) -> None:
        """Size the text to the room the card gives the prompt (``w`` × ``h``): the question must
        read from two metres, and two lines of it, the answer buttons and the countdown must fit
        ``h`` (about 4.6 question heights plus margins), or the card is squashed."""
        self._size = (w, h)
        q = max(14, min(40, int(w / 15), int((h - 30) / 4.6)))
        text = self.question.text()
        flags = int(Qt.TextFlag.TextWordWrap)
        while q > 14 and text:
            # the question beside its icon, wrapped; the buttons (1.9 q) and countdown under it
            text_w = max(40, w - 40 - int(q * 1.6))
            need = QFontMetrics(theme.sans(q, bold=True)).boundingRect(0, 0, text_w, 10_000, flags, text)
            if need.height() + int(q * 1.9) + 40 <= h and need.width() <= text_w:
                break
            q -= 1
        self.question.setFont(theme.sans(q, bold=True))
        self.icon.setFixedSize(int(q * 1.6), int(q * 1.6))
        bf = theme.sans(max(17, int(q * 0.85)), bold=True)
        for b in self.buttons:
            b.setFont(bf)
            # the style sheet's min-height wins over setMinimumHeight; a touch target ≥ 34 px
            b.setStyleSheet(f"min-height: {max(28, int(q * 1.9) - 6)}px;")
        self.countdown_label.setFont(theme.sans(max(15, int(q * 0.7)), bold=True))
