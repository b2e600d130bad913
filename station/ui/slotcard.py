"""One fixture slot (or one USB device on a bench) as a card: its unit, its run, its result.

The card paints what :class:`~station.ui.cardmodel.SlotView` says and sends the operator's
actions out as signals carrying the slot name (start, stop, retry, open record, answer a prompt).
It never calls the session itself: the window decides, so a card cannot act on another slot.
"""

from __future__ import annotations

import functools

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
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from station.ui import theme
from station.ui.cardmodel import CardState, SlotView, elapsed_text
from station.ui.gate import GatedButton
from station.ui.icons import icon_frame, paint_icon
from station.ui.prompt import PromptPanel
from station.ui.stepbar import StepBar


@functools.lru_cache(maxsize=1024)
def _fitting_px(text: str, width: int, cap: int, floor: int, *, mono: bool = False) -> int:
    """The largest pixel size (``floor``..``cap``) at which ``text`` fits ``width`` in one line.

    Memoised: cards ask again on every refresh with the same few texts and widths.
    """
    if not text:
        return cap
    ref = (theme.mono if mono else theme.sans)(100)
    per_px = QFontMetrics(ref).horizontalAdvance(text) / 100
    return max(floor, min(cap, int(width / max(per_px, 0.01))))


class StateBanner(QWidget):
    """The big state: colour + icon + word (+ stripes for ERROR), and one line under it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.style_ = theme.STATE_STYLES[CardState.WAITING]
        self.word = self.style_.word
        self.headline = ""
        self.phase = 0.0
        self._layout_key: tuple[object, ...] | None = None
        self._layout_cache: tuple[QRectF, int, QRectF, QRectF, QRectF, int, bool] | None = None
        self._static_key: tuple[object, ...] | None = None
        self._static: QPixmap | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # Small on purpose: the banner takes what the card's fixed lines leave and sizes its text
        # to that (clipped_text says if it ever cannot); a large minimum here would make the
        # cards, and so the window, taller than a 768-pixel screen.
        self.setMinimumHeight(40)

    def sizeHint(self) -> QSize:
        return QSize(320, 150)

    def minimumSizeHint(self) -> QSize:
        return QSize(160, 40)

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

    def _layout(self) -> tuple[QRectF, int, QRectF, QRectF, QRectF, int, bool]:
        """Where the icon, the word and the headline go, and their sizes (pixels).

        The headline (operator words: "Failed at: Checking firmware") is wrapped and shrunk until
        it fits the space under the word, so it is never cut; ``fits`` says whether even the
        smallest size did. Shared by :meth:`paintEvent` and :meth:`clipped_text`; computed once
        per size and text (the RUNNING banner repaints ten times a second).
        """
        key = (self.width(), self.height(), self.word, self.headline)
        if key != self._layout_key or self._layout_cache is None:
            self._layout_cache = self._compute_layout()
            self._layout_key = key
        return self._layout_cache

    def _compute_layout(self) -> tuple[QRectF, int, QRectF, QRectF, QRectF, int, bool]:
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        word_px = self.word_pixel_size()
        fm = QFontMetrics(theme.sans(word_px, bold=True))
        icon_side = fm.height() * 0.95
        gap = word_px * 0.25
        total = icon_side + gap + fm.horizontalAdvance(self.word)
        head_px, head_h, fits = 0, 0.0, True
        flags = int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap)
        band = self._band(r)
        margin = max(8.0, band + 3)
        head_w = int(r.width() - 2 * margin)
        if self.headline:
            room = r.height() - fm.height() - 6
            head_px = max(12, min(int(word_px * 0.55), int(self.width() / 13)))
            while True:
                need = QFontMetrics(theme.sans(head_px, bold=True)).boundingRect(
                    0, 0, head_w, 10_000, flags, self.headline)
                head_h = float(need.height())
                fits = head_h <= room and need.width() <= head_w
                if fits or head_px <= 12:
                    break
                head_px -= 1
        block_h = fm.height() + head_h
        top = r.top() + max(2.0, (r.height() - block_h) / 2)
        left = r.left() + max(8.0, (r.width() - total) / 2)
        icon = QRectF(left, top + (fm.height() - icon_side) / 2, icon_side, icon_side)
        word = QRectF(left + icon_side + gap, top, r.right() - left - icon_side - gap, fm.height())
        head = QRectF(r.left() + margin, top + fm.height(), head_w, head_h)
        return icon, word_px, word, head, r, head_px, fits

    def _band(self, r: QRectF) -> float:
        """The width of ERROR's striped side bands (0 for the plain states): text stays between them.

        At the sides, not round the edge: the banner's height is what sizes its word and headline,
        so the stripes take none of it. At least the corner radius, so the plain middle is square.
        """
        if not self.style_.hatch:
            return 0.0
        return max(8.0, min(12.0, r.height() * 0.08), r.width() * 0.035)

    def clipped_text(self) -> list[str]:
        """What of the word or the headline would be cut at this size (see station.ui.layoutcheck)."""
        _, word_px, word, head, r, _, fits = self._layout()
        out = []
        if QFontMetrics(theme.sans(word_px, bold=True)).horizontalAdvance(self.word) > word.width() + 1:
            out.append(f"state word {self.word!r} is wider than the banner")
        if self.headline and (not fits or head.bottom() > r.bottom() + 1):
            out.append(f"headline {self.headline!r} does not fit the banner ({r.width():.0f}×{r.height():.0f})")
        return out

    def paintEvent(self, event: QPaintEvent) -> None:
        # Everything but the turning icon is painted once into a pixmap per size/state/headline,
        # and the icon's frames are shared by all cards (icons.icon_frame): a repaint is two
        # pixmap copies, not fifty QPainter calls, each of which has to win the GIL back from
        # eight slot threads.
        icon, *_ = self._layout()
        dpr = self.devicePixelRatioF()
        key = (self.width(), self.height(), dpr, self.style_, self.word, self.headline)
        if key != self._static_key or self._static is None:
            self._static = self._paint_static(dpr)
            self._static_key = key
        p = QPainter(self)
        p.drawPixmap(0, 0, self._static)
        frame = icon_frame(self.style_.icon, int(icon.width()), QColor(self.style_.foreground), self.phase, dpr)
        p.drawPixmap(int(icon.x()), int(icon.y()), frame)
        p.end()

    def _paint_static(self, dpr: float) -> QPixmap:
        st = self.style_
        pm = QPixmap(int(self.width() * dpr), int(self.height() * dpr))
        pm.setDevicePixelRatio(dpr)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        _, word_px, word, head, r, head_px, _ = self._layout()
        radius = min(12.0, r.height() * 0.08)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(st.background))
        p.drawRoundedRect(r, radius, radius)
        if st.hatch:
            # ERROR's texture, unlike FAIL's plain vermillion (the two oranges look alike to a
            # deuteranope): striped hazard bands at the sides, not stripes under the text, so
            # its word and headline are as legible as on any other banner.
            band = self._band(r)
            brush = QBrush(QColor(0, 0, 0, 200), Qt.BrushStyle.BDiagPattern)
            t = p.transform()
            p.scale(4, 4)  # widen the built-in 8-px pattern to read at a distance
            p.setBrush(brush)
            p.drawRoundedRect(QRectF(r.x() / 4, r.y() / 4, r.width() / 4, r.height() / 4), radius / 4, radius / 4)
            p.setTransform(t)
            p.setBrush(QColor(st.background))
            p.drawRect(r.adjusted(band, 0, -band, 0))
        if st.outline:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(st.outline), 3, Qt.PenStyle.DashLine if st.icon == "waiting" else Qt.PenStyle.SolidLine))
            p.drawRoundedRect(r.adjusted(1.5, 1.5, -1.5, -1.5), radius, radius)
        fg = QColor(st.foreground)
        p.setFont(theme.sans(word_px, bold=True))
        p.setPen(fg)
        p.drawText(word, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.word)
        if self.headline:
            p.setFont(theme.sans(head_px, bold=True))
            p.drawText(head, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
                       self.headline)
        p.end()
        return pm


class ChipRow(QWidget):
    """The run's steps as a row of segments: done (tick), failed (cross), running, still to come."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chips: list[tuple[str, str, str]] = []  # (name, title, state)
        self._key: tuple[object, ...] | None = None
        self._pixmap: QPixmap | None = None  # painted once per size and chip states
        self.setMinimumHeight(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(300, 22)

    def set_chips(self, chips: list[tuple[str, str, str]]) -> None:
        if chips == self.chips:
            return  # a refresh for progress: nothing to repaint here
        self.chips = chips
        self.setToolTip("\n".join(f"{t}: {s}" for _, t, s in chips))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.chips:
            return
        dpr = self.devicePixelRatioF()
        key = (self.width(), self.height(), dpr, tuple(s for _, _, s in self.chips))
        if key != self._key or self._pixmap is None:
            self._pixmap = QPixmap(max(1, int(self.width() * dpr)), max(1, int(self.height() * dpr)))
            self._pixmap.setDevicePixelRatio(dpr)
            self._pixmap.fill(Qt.GlobalColor.transparent)
            self._paint_chips(QPainter(self._pixmap))
            self._key = key
        p = QPainter(self)
        p.drawPixmap(0, 0, self._pixmap)
        p.end()

    def _paint_chips(self, p: QPainter) -> None:
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
        self._reason_cap = 14
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
        self.step_bar = StepBar()  # not QProgressBar: its setValue repaints the window at once
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
        for lab in (self.name_label, self.id_label, self.step_label, self.reason_label):
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # sized by _fit_meta to the room the name and the clock leave
        self.meta_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

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
        head.addWidget(self.name_label, 1)
        head.addWidget(self.meta_label)
        head.addWidget(self.elapsed_label)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.retry_button, self.record_button):
            buttons.addWidget(b, 1)
        buttons.insertWidget(2, self.recover_button, 2)
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
        # The device ID has a line of its own, as large as the card allows (it is read from two
        # metres); platform, transport and serial sit beside the slot name, in two short lines.
        meta = " · ".join(x for x in (v.platform, v.transport.upper() if v.transport else None) if x)
        self.meta_label.setText(meta + (f"\nSN {v.serial_number}" if v.serial_number else ""))
        self.id_label.setText(v.device_id or "no device")
        self._fit_ident()
        self._fit_meta()
        self.banner.show_state(v.state, v.headline)
        if v.prompt is not None:
            self.prompt_panel.fit(self.width(), self._prompt_room())  # before its text makes it grow
            self.prompt_panel.show_prompt(v.prompt)
            self.prompt_panel.show()
            self.banner.hide()
        else:
            self.prompt_panel.clear()
            self.prompt_panel.hide()
            self.banner.show()
        running = v.state is CardState.RUNNING
        # A question takes the step line's room too: it must be read, the step bar can wait.
        self.detail.setVisible(v.prompt is None)
        self.detail.setCurrentIndex(0 if running else 1)
        self.step_label.setText(self._step_count() if running and v.step else "")
        if running and v.step and v.step_fraction is None:
            self.step_bar.setRange(0, 0)  # busy: this step reports no fraction
        else:
            self.step_bar.setRange(0, 1000)
            self.step_bar.setValue(int((v.step_fraction or 0.0) * 1000))
        self.reason_label.setText(v.card_reason())
        self.reason_label.setToolTip(v.reason)
        self._fit_reason()
        self.chip_row.set_chips([(c.name, c.title, c.state) for c in v.chips])
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.retry_button.setEnabled(v.finished and v.state is not CardState.PASS)
        self.record_button.setEnabled(v.device_id is not None)
        # A locked chip: Recover takes the place of Stop (nothing runs) and Retry (it would only
        # fail again), so its words fit the row.
        self.recover_button.setVisible(v.locked)
        self.stop_button.setVisible(not v.locked)
        self.retry_button.setVisible(not v.locked)
        self.tick()
        self._announce()

    def show_progress(self) -> None:
        """A progress event: only the step bar moves (refresh() redoes every line of the card,
        too much at the rate eight flashing slots report)."""
        v = self.view
        if v.state is not CardState.RUNNING or v.step_fraction is None:
            self.refresh()
            return
        if self.step_bar.maximum() == 0:
            self.step_bar.setRange(0, 1000)
        self.step_bar.setValue(int(v.step_fraction * 1000))

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
        self.step_bar.animate(phase)
        if self.view.state is CardState.RUNNING and self.banner.isVisible():
            self.banner.phase = phase
            self.banner.update()

    def _announce(self) -> None:
        name = self.view.accessible_name()
        if name != self.accessibleName():
            self.setAccessibleName(name)
            QAccessible.updateAccessibility(QAccessibleEvent(self, QAccessible.Event.NameChanged))

    def _fit_ident(self) -> None:
        """The device ID in one line: the monospace font as large as fits, never cut."""
        text = self.id_label.text()
        width = max(100, self.width() - 24)
        cap = max(14, min(26, int(self.height() * 0.07)))
        self.id_label.setFont(theme.mono(_fitting_px(text, width, cap, 10, mono=True)))

    def _fit_meta(self) -> None:
        """Platform · transport and the serial, right of the slot name, in the name's row."""
        lines = self.meta_label.text().split("\n")
        row = max(16, self.name_label.sizeHint().height())
        cap = max(11, min(20, int(row / max(1, len(lines)) / 1.2), int(self.width() / 24)))
        name_w = QFontMetrics(self.name_label.font()).horizontalAdvance(self.name_label.text())
        room = max(40, self.width() - 24 - name_w - self.elapsed_label.minimumWidth() - 16)
        self.meta_label.setFont(theme.sans(min(_fitting_px(x, room, cap, 10) for x in lines) if lines else cap))

    def _fit_reason(self) -> None:
        """The reason in the step line's room (two lines at the card's size): smaller type before cut."""
        text = self.reason_label.text()
        box_h = self.detail.height() if self.detail.maximumHeight() < 10_000 else 40
        width = max(60, self.width() - 24)
        px = self._reason_cap
        flags = int(Qt.TextFlag.TextWordWrap)
        while px > 11 and text:
            need = QFontMetrics(theme.sans(px)).boundingRect(0, 0, width, 10_000, flags, text)
            if need.height() <= box_h and need.width() <= width:
                break
            px -= 1
        self.reason_label.setFont(theme.sans(px))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        w, h = self.width(), self.height()
        # Every fixed line is a share of the card's height, and together they stay well under it
        # (about 0.35 h + 90 px): the banner or the prompt gets the rest, so the card never asks
        # for more height than the board gave it.
        name_px = max(18, min(36, int(h * 0.08), int(w / 9)))
        self.name_label.setFont(theme.sans(name_px, bold=True))
        small = max(13, min(22, int(w / 26)))
        self.meta_label.setFont(theme.sans(small))
        self.elapsed_label.setFont(theme.mono(max(16, int(name_px * 0.8)), bold=True))
        self._fit_ident()
        self.step_label.setFont(theme.sans(small, bold=True))
        self._reason_cap = max(14, min(24, int(w / 22)))
        self.detail.setFixedHeight(int(QFontMetrics(theme.sans(self._reason_cap)).lineSpacing() * 2.1))
        self._fit_reason()
        self._fit_meta()
        self.elapsed_label.setMinimumWidth(QFontMetrics(self.elapsed_label.font()).horizontalAdvance("00:00") + 4)
        self.step_bar.setFixedHeight(max(14, int(h * 0.045)))
        self.chip_row.setFixedHeight(max(16, int(h * 0.05)))
        self.prompt_panel.fit(w, self._prompt_room())

    def _prompt_room(self) -> int:
        """The prompt's share of the card: what the banner and the step line leave (it hides them)."""
        fixed = (self.name_label.sizeHint().height() + self.id_label.sizeHint().height()
                 + self.chip_row.height() + self.start_button.sizeHint().height() + 6 + 8 + 4 * 4)
        return max(60, self.height() - fixed)
