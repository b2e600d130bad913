"""Find text the window cuts off: what an operator two metres away would fail to read.

Qt clips silently: a label narrower than its text shows half a lot name, a word-wrapped reason
taller than its box loses its last line, a layout squeezed below a widget's minimum overlaps
its children. This walks every visible widget of a window and reports each such place in words,
so a test (at 1366×768 and 1080p) and the screenshot script can fail on it instead of a person
having to spot it in a picture. Widgets that paint their own text say whether it fits through a
``clipped_text() -> list[str]`` method (the slot card's state banner does).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

#: Pixels of slack for rounding between font metrics and layout.
SLACK = 1


def _name(w: QWidget) -> str:
    parts: list[str] = []
    node: QWidget | None = w
    while node is not None and len(parts) < 3:
        parts.append(node.objectName() or type(node).__name__)
        node = node.parentWidget()
    return "/".join(reversed(parts))


def _scrolled(w: QWidget, window: QWidget) -> bool:
    """Inside a scroll area, where reaching past the edge is what scrolling is for."""
    node = w.parentWidget()
    while node is not None and node is not window:
        if node.inherits("QAbstractScrollArea"):
            return True
        node = node.parentWidget()
    return False


def _label_problem(lab: QLabel) -> str | None:
    text = lab.text()
    if not text or lab.textFormat() == Qt.TextFormat.RichText or not lab.pixmap().isNull():
        return None
    fm = QFontMetrics(lab.font())
    box = lab.contentsRect().adjusted(lab.margin(), lab.margin(), -lab.margin(), -lab.margin())
    if lab.wordWrap():
        need = fm.boundingRect(QRect(0, 0, box.width(), 100_000), int(Qt.TextFlag.TextWordWrap), text)
        if need.width() > box.width() + SLACK:
            return f"a word of {text!r} is wider than its label ({need.width()} > {box.width()} px)"
        if need.height() > box.height() + SLACK:
            return f"{text!r} needs {need.height()} px of height, has {box.height()}"
        return None
    lines = text.split("\n")
    wide = max(fm.horizontalAdvance(line) for line in lines)
    if wide > box.width() + SLACK:
        return f"{text!r} is cut: {wide} px of text in {box.width()} px"
    if fm.height() * len(lines) > box.height() + SLACK + 2:
        return f"{text!r} is cut vertically: {fm.height() * len(lines)} px in {box.height()} px"
    return None


def _button_problem(b: QAbstractButton) -> str | None:
    text = b.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    if not text:
        return None
    wide = QFontMetrics(b.font()).horizontalAdvance(text)
    room = b.contentsRect().width() - (b.iconSize().width() + 4 if not b.icon().isNull() else 0)
    if b.inherits("QCheckBox") or b.inherits("QRadioButton"):
        room -= 20  # the indicator
    if wide > room + SLACK:
        return f"button {text!r} is cut: {wide} px of text in {room} px"
    return None


def clipped(window: QWidget, *, check_screen: bool = True) -> list[str]:
    """Every place where visible text does not fit, as ``"<widget path>: <what>"``.

    ``check_screen`` also requires the window to fit its screen (off for the offscreen platform,
    whose one screen is 800×800 whatever size the window is tested at).
    """
    problems: list[str] = []
    screen = window.screen()
    if check_screen and window.isWindow() and screen is not None:
        avail = screen.availableGeometry()
        frame = window.frameGeometry()
        if frame.height() > avail.height() or frame.width() > avail.width():
            problems.append(f"window: {frame.width()}×{frame.height()} does not fit the screen's "
                            f"{avail.width()}×{avail.height()}")
    top = window.rect()
    for w in [window, *window.findChildren(QWidget)]:
        if not w.isVisible() or w.width() <= 0:
            continue
        where = _name(w)
        r = QRect(w.mapTo(window, w.rect().topLeft()), w.size())
        if w is not window and not top.contains(r) and not _scrolled(w, window):
            inter = top.intersected(r)
            if inter.height() < r.height() - SLACK or inter.width() < r.width() - SLACK:
                problems.append(f"{where}: reaches outside the window ({r.x()},{r.y()} {r.width()}×{r.height()})")
                continue
        if w.layout() is not None and not w.inherits("QAbstractScrollArea"):
            m = w.minimumSizeHint()
            if m.isValid() and (w.height() + SLACK < m.height() or w.width() + SLACK < m.width()):
                problems.append(f"{where}: squeezed to {w.width()}×{w.height()}, needs {m.width()}×{m.height()}")
        if isinstance(w, QLabel):
            p = _label_problem(w)
        elif isinstance(w, QAbstractButton):
            p = _button_problem(w)
        else:
            p = None
        if p:
            problems.append(f"{where}: {p}")
        own = getattr(w, "clipped_text", None)
        if callable(own):
            problems += [f"{where}: {x}" for x in own()]
    return problems
