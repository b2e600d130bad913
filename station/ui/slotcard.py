"""One fixture slot (or one USB device on a bench) as a card: its unit, its run, its result.

The card paints what :class:`~station.ui.cardmodel.SlotView` says and sends the operator's
actions out as signals carrying the slot name (start, stop, retry, open record, answer a prompt).
It never calls the session itself: the window decides, so a card cannot act on another slot.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAccessible,
    QAccessibleEvent,
    QBrush,
    QColor,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.cardmodel import CardState, SlotView, elapsed_text
from station.ui.gate import GatedButton
from station.ui.icons import paint_icon
from station.ui.prompt import PromptPanel


class StateBanner(QWidget):
    """The big state: colour + icon + word (+ stripes for ERROR), and one line under it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.style_ = theme.STATE_STYLES[CardState.WAITING]
        self.word = self.style_.word
        self.headline = ""
        self.phase = 0.0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(90)

    def sizeHint(self) -> QSize:
        return QSize(320, 150)

    def minimumSizeHint(self) -> QSize:
        return QSize(160, 90)

    def show_state(self, state: CardState, headline: str) -> None:
        self.style_ = theme.STATE_STYLES[state]
        self.word = self.style_.word
        self.headline = headline
        self.update()

    def word_pixel_size(self) -> int:
        """As large as the banner allows: by its height, and so that icon + the longest state word
        fit its width (measured, since glyph widths differ per font)."""
        ref = 100
        fm = QFontMetrics(theme.sans(ref, bold=True))
        at_ref = fm.height() * 0.95 + ref * 0.25 + fm.horizontalAdvance(theme.LONGEST_WORD)
        by_width = (self.width() - 24) * ref / at_ref
        return max(20, int(min(self.height() * 0.46, by_width)))

    def paintEvent(self, event: QPaintEvent) -> None:
        st = self.style_
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        radius = min(12.0, r.height() * 0.08)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(st.background))
        p.drawRoundedRect(r, radius, radius)
        if st.hatch:
            # Stripes make ERROR a different *texture* from FAIL, not only another orange.
            brush = QBrush(QColor(0, 0, 0, 70), Qt.BrushStyle.BDiagPattern)
            t = p.transform()
            p.scale(4, 4)  # widen the built-in 8-px pattern to read at a distance
            p.setBrush(brush)
            p.drawRoundedRect(QRectF(r.x() / 4, r.y() / 4, r.width() / 4, r.height() / 4), radius / 4, radius / 4)
            p.setTransform(t)
        if st.outline:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(st.outline), 3, Qt.PenStyle.DashLine if st.icon == "waiting" else Qt.PenStyle.SolidLine))
            p.drawRoundedRect(r.adjusted(1.5, 1.5, -1.5, -1.5), radius, radius)

        fg = QColor(st.foreground)
        word_px = self.word_pixel_size()
        head_px = max(15, min(int(word_px * 0.55), int(self.width() / 13)))
        has_head = bool(self.headline)
        word_font = theme.sans(word_px, bold=True)
        fm = QFontMetrics(word_font)
        icon_side = fm.height() * 0.95
        text_w = fm.horizontalAdvance(self.word)
        gap = word_px * 0.25
        total = icon_side + gap + text_w
        block_h = fm.height() + (head_px * 2.6 if has_head else 0)
        top = r.top() + (r.height() - block_h) / 2
        left = r.left() + max(8.0, (r.width() - total) / 2)
        paint_icon(p, st.icon, QRectF(left, top + (fm.height() - icon_side) / 2, icon_side, icon_side), fg, self.phase)
        p.setFont(word_font)
        p.setPen(fg)
        p.drawText(QRectF(left + icon_side + gap, top, r.right() - left - icon_side - gap, fm.height()),
                   int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.word)
        if has_head:
            p.setFont(theme.sans(head_px, bold=True))
            p.drawText(QRectF(r.left() + 10, top + fm.height(), r.width() - 20, head_px * 2.6),
                       int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
                       self.headline)
        p.end()


class ChipRow(QWidget):
    """The run's steps as a row of segments: done (tick), failed (cross), running, still to come."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chips: list[tuple[str, str, str]] = []  # (name, title, state)
        self.setMinimumHeight(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(300, 22)

    def set_chips(self, chips: list[tuple[str, str, str]]) -> None:
        self.chips = chips
        self.setToolTip("\n".join(f"{t}: {s}" for _, t, s in chips))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.chips:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        n = len(self.chips)
        gap = 3.0
        w = (self.width() - gap * (n - 1)) / n
        h = float(self.height())
        for i, (_, _, state) in enumerate(self.chips):
            bg, fg = theme.CHIP_COLOURS.get(state, theme.CHIP_COLOURS["pending"])
            r = QRectF(i * (w + gap), 0.5, w, h - 1)
            p.setPen(QPen(QColor("#555555"), 1.5))
            p.setBrush(QColor(bg))
            p.drawRoundedRect(r, 3, 3)
            icon = {"passed": "pass", "failed": "fail", "running": "running"}.get(state)
            if icon and w >= 10:
                side = min(w, h) * 0.8
                paint_icon(p, icon, QRectF(r.center().x() - side / 2, r.center().y() - side / 2, side, side), QColor(fg))
        p.end()


class SlotCard(QFrame):
    """A slot's card. Signals carry the slot name so the window can route them."""

    startRequested = Signal(str)
    stopRequested = Signal(str)
    retryRequested = Signal(str)
    recordRequested = Signal(str)
    recoverRequested = Signal(str)  # an engineer's: erase the locked chip and run again
    recoverRefused = Signal(str)  # pressed while the role may not: the window explains and audits
    answered = Signal(str, str, str)  # slot, prompt id, choice

    def __init__(self, view: SlotView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.setObjectName("slotCard")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet(
            "#slotCard { background: #FFFFFF; border: 2px solid #9A9A9A; border-radius: 10px; }"
            "#slotCard:focus { border: 4px solid #0072B2; }"
            "#slotCard QPushButton { padding: 0 2px; }"
        )
        self.name_label = QLabel()
        self.name_label.setObjectName("slotName")
        self.meta_label = QLabel()
        self.meta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.elapsed_label = QLabel()
        self.elapsed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.id_label = QLabel()
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner = StateBanner()
        self.prompt_panel = PromptPanel(view.slot)
        self.prompt_panel.answered.connect(self._on_answered)
        self.prompt_panel.hide()

        # One fixed-height line under the banner: the step and its bar while running, the
        # reason once finished. Fixed, so every banner of the board has the same height.
        self.detail = QStackedWidget()
        self.step_label = QLabel()
        self.step_bar = QProgressBar()
        self.step_bar.setRange(0, 1000)
        self.step_bar.setTextVisible(False)
        step_page = QWidget()
        step = QHBoxLayout(step_page)
        step.setContentsMargins(0, 0, 0, 0)
        step.addWidget(self.step_label, 2)
        step.addWidget(self.step_bar, 3)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.reason_label.setObjectName("reason")
        self.detail.addWidget(step_page)
        self.detail.addWidget(self.reason_label)
        self.chip_row = ChipRow()
        # Text never widens a card: every card of the board gets the same width.
        for lab in (self.name_label, self.meta_label, self.id_label, self.step_label, self.reason_label):
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.retry_button = QPushButton("Retry")
        self.record_button = QPushButton("Record")
        # Shown only on a unit that failed because its chip is locked; locked itself for a role
        # that may not recover (station.roles.may decides, the window sets it).
        self.recover_button = GatedButton("Recover chip")
        self.recover_button.activated.connect(self._recover)
        self.recover_button.refused.connect(self._recover_refused)
        for b, name in ((self.start_button, "start"), (self.stop_button, "stop"),
                        (self.retry_button, "retry"), (self.record_button, "record"),
                        (self.recover_button, "recover the locked chip of")):
            b.setAccessibleName(f"{name} slot {view.title or view.slot}")
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.start_button.clicked.connect(self._start)
        self.stop_button.clicked.connect(self._stop)
        self.retry_button.clicked.connect(self._retry)
        self.record_button.clicked.connect(self._record)

        head = QHBoxLayout()
        head.addWidget(self.name_label, 3)
        head.addWidget(self.meta_label, 2)
        head.addWidget(self.elapsed_label)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.retry_button, self.record_button, self.recover_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 8)
        lay.setSpacing(4)
        lay.addLayout(head)
        lay.addWidget(self.id_label)
        lay.addWidget(self.banner, 5)
        lay.addWidget(self.prompt_panel, 5)
        lay.addWidget(self.detail)
        lay.addWidget(self.chip_row)
        lay.addLayout(buttons)
        self.refresh()

    # ------------------------------------------------------------------ outgoing
    def _start(self) -> None:
        self.startRequested.emit(self.view.slot)

    def _stop(self) -> None:
        self.stopRequested.emit(self.view.slot)

    def _retry(self) -> None:
        self.retryRequested.emit(self.view.slot)

    def _record(self) -> None:
        self.recordRequested.emit(self.view.slot)

    def _recover(self) -> None:
        self.recoverRequested.emit(self.view.slot)

    def _recover_refused(self, _why: str) -> None:
        self.recoverRefused.emit(self.view.slot)

    def _on_answered(self, prompt_id: str, choice: str) -> None:
        self.answered.emit(self.view.slot, prompt_id, choice)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Y/N/Enter reach the prompt of *this* card only when the card (or its prompt) has focus.
        if self.view.prompt is not None and self.prompt_panel.handle_key(event):
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------------ incoming
    def refresh(self) -> None:
        """Repaint everything from the view (after an event or an operator action)."""
        v = self.view
        self.name_label.setText(v.title or v.slot)
        meta = [x for x in (v.platform, v.transport.upper() if v.transport else None) if x]
        self.meta_label.setText("  ".join(meta))
        ident = v.device_id or "no device"
        if v.serial_number:
            ident += f"  SN {v.serial_number}"
        self.id_label.setText(ident)
        self._fit_ident()
        self.banner.show_state(v.state, v.headline)
        if v.prompt is not None:
            self.prompt_panel.show_prompt(v.prompt)
            self.prompt_panel.show()
            self.banner.hide()
        else:
            self.prompt_panel.clear()
            self.prompt_panel.hide()
            self.banner.show()
        running = v.state is CardState.RUNNING
        self.detail.setCurrentIndex(0 if running else 1)
        self.step_label.setText(self._step_count() if running and v.step else "")
        if running and v.step and v.step_fraction is None:
            self.step_bar.setRange(0, 0)  # busy: this step reports no fraction
        else:
            self.step_bar.setRange(0, 1000)
            self.step_bar.setValue(int((v.step_fraction or 0.0) * 1000))
        self.reason_label.setText(v.reason if v.finished and v.state is not CardState.PASS else "")
        self.reason_label.setToolTip(v.reason)
        self.chip_row.set_chips([(c.name, c.title, c.state) for c in v.chips])
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.retry_button.setEnabled(v.finished and v.state is not CardState.PASS)
        self.record_button.setEnabled(v.device_id is not None)
        self.recover_button.setVisible(v.locked)
        self.tick()
        self._announce()

    def _step_count(self) -> str:
        names = [c.name for c in self.view.chips]
        if self.view.step in names:
            return f"Step {names.index(self.view.step) + 1} of {len(names)}"
        return "Step"

    def tick(self) -> None:
        """Once a second (and on every change): the elapsed time and the prompt's countdown."""
        v = self.view
        self.elapsed_label.setText(elapsed_text(v.elapsed()) if v.started_at is not None else "")
        if v.prompt is not None:
            self.prompt_panel.tick()

    def animate(self, phase: float) -> None:
        if self.view.state is CardState.RUNNING and self.banner.isVisible():
            self.banner.phase = phase
            self.banner.update()

    def _announce(self) -> None:
        name = self.view.accessible_name()
        if name != self.accessibleName():
            self.setAccessibleName(name)
            QAccessible.updateAccessibility(QAccessibleEvent(self, QAccessible.Event.NameChanged))

    def _fit_ident(self) -> None:
        """The device ID (and serial) in one line: shrink the monospace font to fit, not cut."""
        text = self.id_label.text()
        width = max(100, self.width() - 24)
        cap = max(13, min(22, int(self.width() / 26)))
        ref = theme.mono(100)
        per_px = QFontMetrics(ref).horizontalAdvance(text) / 100 if text else 1.0
        self.id_label.setFont(theme.mono(max(10, min(cap, int(width / max(per_px, 0.01))))))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        w, h = self.width(), self.height()
        name_px = max(18, min(44, int(h * 0.085), int(w / 9)))
        self.name_label.setFont(theme.sans(name_px, bold=True))
        small = max(13, min(22, int(w / 26)))
        self.meta_label.setFont(theme.sans(small))
        self.elapsed_label.setFont(theme.mono(max(16, int(name_px * 0.8)), bold=True))
        self._fit_ident()
        self.step_label.setFont(theme.sans(small, bold=True))
        self.reason_label.setFont(theme.sans(max(14, min(24, int(w / 22)))))
        self.detail.setFixedHeight(int(QFontMetrics(self.reason_label.font()).lineSpacing() * 2.1))
        self.step_bar.setFixedHeight(max(14, int(h * 0.045)))
        self.chip_row.setFixedHeight(max(16, int(h * 0.05)))
        self.prompt_panel.fit(w, h)
