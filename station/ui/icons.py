"""State icons drawn with QPainter: one distinct *shape* per state, in any size, with no font.

Shapes carry the meaning on their own (a grey-scale print or a colour-blind operator still tells
them apart): a tick in a circle (PASS), a cross in an octagon (FAIL), an exclamation mark in a
triangle (ERROR), a turning arc (RUNNING), a hollow ring (WAITING), a square (STOPPED), a double
tick (DONE before), and a padlock on a locked button. Drawing them avoids depending on an emoji font a factory PC may not have.
"""

from __future__ import annotations

import functools
import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

NAMES = ("pass", "fail", "error", "running", "waiting", "stopped", "done", "question", "lock")


def _pen(colour: QColor, width: float) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def paint_icon(p: QPainter, name: str, rect: QRectF, colour: QColor, phase: float = 0.0) -> None:
    """Draw icon ``name`` centred in ``rect``; ``phase`` (0..1) turns the RUNNING arc."""
    side = min(rect.width(), rect.height())
    r = QRectF(0, 0, side, side)
    r.moveCenter(rect.center())
    w = max(2.0, side * 0.1)
    c = r.center()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.setPen(_pen(colour, w))
    inner = r.adjusted(w, w, -w, -w)
    if name == "pass":
        p.drawEllipse(inner)
        path = QPainterPath(QPointF(c.x() - side * 0.22, c.y() + side * 0.01))
        path.lineTo(c.x() - side * 0.06, c.y() + side * 0.17)
        path.lineTo(c.x() + side * 0.24, c.y() - side * 0.15)
        p.drawPath(path)
    elif name == "done":
        p.drawEllipse(inner)
        for dx in (-0.1, 0.08):
            path = QPainterPath(QPointF(c.x() + side * (dx - 0.16), c.y() + side * 0.02))
            path.lineTo(c.x() + side * (dx - 0.05), c.y() + side * 0.13)
            path.lineTo(c.x() + side * (dx + 0.14), c.y() - side * 0.12)
            p.drawPath(path)
    elif name == "fail":
        pts = [QPointF(c.x() + inner.width() / 2 * math.cos(math.pi / 8 + i * math.pi / 4),
                       c.y() + inner.height() / 2 * math.sin(math.pi / 8 + i * math.pi / 4)) for i in range(8)]
        p.drawPolygon(QPolygonF(pts))
        d = side * 0.17
        p.drawLine(QPointF(c.x() - d, c.y() - d), QPointF(c.x() + d, c.y() + d))
        p.drawLine(QPointF(c.x() - d, c.y() + d), QPointF(c.x() + d, c.y() - d))
    elif name == "error":
        top = QPointF(c.x(), inner.top())
        tri = QPolygonF([top, QPointF(inner.right(), inner.bottom() - side * 0.06),
                         QPointF(inner.left(), inner.bottom() - side * 0.06)])
        p.drawPolygon(tri)
        p.drawLine(QPointF(c.x(), c.y() - side * 0.1), QPointF(c.x(), c.y() + side * 0.14))
        p.setBrush(colour)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(c.x(), c.y() + side * 0.27), w * 0.6, w * 0.6)
    elif name == "running":
        start = int(-phase * 360 * 16)
        p.drawArc(inner, start, 270 * 16)
        # An arrowhead at the end of the arc shows the direction of travel.
        a = math.radians(-phase * 360 + 270)
        end = QPointF(c.x() + inner.width() / 2 * math.cos(a), c.y() - inner.height() / 2 * math.sin(a))
        p.setBrush(colour)
        tangent = a + math.pi / 2
        tip = QPointF(end.x() + side * 0.12 * math.cos(tangent), end.y() - side * 0.12 * math.sin(tangent))
        left = QPointF(end.x() + side * 0.1 * math.cos(a), end.y() - side * 0.1 * math.sin(a))
        right = QPointF(end.x() - side * 0.1 * math.cos(a), end.y() + side * 0.1 * math.sin(a))
        p.drawPolygon(QPolygonF([tip, left, right]))
    elif name == "waiting":
        pen = _pen(colour, w)
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawEllipse(inner)
        p.setPen(_pen(colour, w))
        p.drawLine(c, QPointF(c.x(), c.y() - side * 0.22))
        p.drawLine(c, QPointF(c.x() + side * 0.16, c.y() + side * 0.08))
    elif name == "stopped":
        sq = inner.adjusted(side * 0.12, side * 0.12, -side * 0.12, -side * 0.12)
        p.setBrush(colour)
        p.drawRect(sq)
    elif name == "question":
        p.drawEllipse(inner)
        path = QPainterPath(QPointF(c.x() - side * 0.12, c.y() - side * 0.1))
        path.cubicTo(QPointF(c.x() - side * 0.12, c.y() - side * 0.3), QPointF(c.x() + side * 0.16, c.y() - side * 0.3),
                     QPointF(c.x() + side * 0.14, c.y() - side * 0.1))
        path.cubicTo(QPointF(c.x() + side * 0.12, c.y() + side * 0.02), QPointF(c.x(), c.y()),
                     QPointF(c.x(), c.y() + side * 0.1))
        p.drawPath(path)
        p.setBrush(colour)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(c.x(), c.y() + side * 0.25), w * 0.6, w * 0.6)
    elif name == "lock":
        # a shackle (the top half of a ring) over a filled body with a keyhole
        body = QRectF(inner.left() + side * 0.1, c.y() - side * 0.05, inner.width() - side * 0.2, side * 0.45)
        shackle = QRectF(c.x() - side * 0.2, inner.top() + side * 0.02, side * 0.4, side * 0.5)
        p.drawArc(shackle, 0, 180 * 16)
        p.drawLine(QPointF(shackle.left(), shackle.center().y()), QPointF(shackle.left(), body.top()))
        p.drawLine(QPointF(shackle.right(), shackle.center().y()), QPointF(shackle.right(), body.top()))
        p.setBrush(colour)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(body, side * 0.05, side * 0.05)
        p.setBrush(QColor("#FFFFFF"))
        p.drawEllipse(QPointF(c.x(), body.center().y()), w * 0.7, w * 0.7)
    else:
        raise KeyError(f"no icon named {name!r} (known: {', '.join(NAMES)})")
    p.restore()


def icon_pixmap(name: str, size: int, colour: str, *, ratio: float = 1.0) -> QPixmap:
    pm = QPixmap(round(size * ratio), round(size * ratio))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    paint_icon(p, name, QRectF(0, 0, size, size), QColor(colour))
    p.end()
    return pm


#: Frames of the RUNNING arc's turn (the board animates at 10 Hz; 24 frames look continuous).
PHASES = 24


@functools.lru_cache(maxsize=256)
def _frame(name: str, size: int, rgba: int, phase_index: int, ratio: float) -> QPixmap:
    pm = QPixmap(max(1, round(size * ratio)), max(1, round(size * ratio)))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    paint_icon(p, name, QRectF(0, 0, size, size), QColor.fromRgba(rgba), phase_index / PHASES)
    p.end()
    return pm


def icon_frame(name: str, size: int, colour: QColor, phase: float = 0.0, ratio: float = 1.0) -> QPixmap:
    """Icon ``name`` as a cached pixmap: painted once per size, colour and (RUNNING) phase, then
    shared by every card, so an animated banner costs one pixmap copy per repaint."""
    index = round((phase % 1.0) * PHASES) % PHASES if name == "running" else 0
    return _frame(name, max(1, size), colour.rgba(), index, ratio)
