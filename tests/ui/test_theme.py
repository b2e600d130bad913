"""States are never colour alone: word, icon shape and (for ERROR) texture differ; text contrasts."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from pytestqt.qtbot import QtBot

from station.ui import icons, theme
from station.ui.cardmodel import CardState


def test_every_state_has_its_own_word_and_icon() -> None:
    styles = theme.STATE_STYLES
    assert set(styles) == set(CardState)
    assert len({s.word for s in styles.values()}) == len(styles)
    assert len({s.icon for s in styles.values()}) == len(styles)


def test_fail_and_error_differ_beyond_hue() -> None:
    fail, error = theme.STATE_STYLES[CardState.FAIL], theme.STATE_STYLES[CardState.ERROR]
    assert fail.word != error.word and fail.icon != error.icon
    assert error.hatch and not fail.hatch


def test_state_words_have_at_least_4_5_to_1_contrast() -> None:
    for state, s in theme.STATE_STYLES.items():
        assert theme.contrast_ratio(s.background, s.foreground) >= 4.5, state


def _draw(name: str) -> QImage:
    img = QImage(64, 64, QImage.Format.Format_ARGB32)
    img.fill(0)
    p = QPainter(img)
    icons.paint_icon(p, name, QRectF(0, 0, 64, 64), QColor("#000000"))
    p.end()
    return img


def test_icon_shapes_differ(qtbot: QtBot) -> None:
    drawn = {n: _draw(n) for n in icons.NAMES}
    for a in icons.NAMES:
        assert any(drawn[a].pixel(x, y) for x in range(64) for y in range(64)), f"{a} draws nothing"
        for b in icons.NAMES:
            if a < b:
                assert drawn[a] != drawn[b], f"{a} and {b} look the same"


def test_scale_follows_screen_height() -> None:
    assert theme.ui_scale(768) == 1.0 and theme.ui_scale(600) == 1.0
    assert round(theme.ui_scale(1080), 2) == 1.41
