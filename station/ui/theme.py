"""Colours, type and sizes: a result must be readable from two metres, by anyone.

* **Never colour alone** (WCAG 1.4.1): every state has a colour from the Okabe–Ito palette
  (safe for the common colour-vision deficiencies), an icon of its own shape and a big word.
  FAIL (vermillion, a cross) and ERROR (orange, a warning triangle, diagonal stripes) differ in
  hue, shape, texture and word, because vermillion and orange look alike to a deuteranope.
* **Text contrast ≥ 4.5:1** on every state colour (black on green/vermillion/orange, white on
  blue), checked by a test.
* **Sizes follow the card**, not the screen: the state word is sized to the card it sits in, so
  eight cards on a 1366×768 laptop and four on a 1080p touch screen both fill their space. Chrome
  (top bar, tables) scales with the screen height against a 768-pixel baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from station.ui.cardmodel import CardState

#: Okabe & Ito (2008), "Color Universal Design": the eight colours and their usual names.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

SANS = ["Inter", "Noto Sans", "DejaVu Sans", "Liberation Sans", "Segoe UI", "Arial"]
MONO = ["JetBrains Mono", "Noto Sans Mono", "DejaVu Sans Mono", "Liberation Mono", "Consolas"]

SURFACE = "#FFFFFF"
CANVAS = "#E9ECEF"
INK = "#111111"
MUTED = "#4A4A4A"
ERROR_TEXT = "#A00000"  # 7.9:1 on white
WAITING_BG = "#F4F4F4"


@dataclass(frozen=True)
class StateStyle:
    word: str
    background: str
    foreground: str
    icon: str  # name of a shape in station.ui.icons
    hatch: bool = False  # diagonal stripes over the background (ERROR)
    outline: str = ""  # a border drawn around the banner (states with a pale background)


#: The longest state word: every banner sizes its word for this one, so all cards match.
LONGEST_WORD = "STOPPED"

STATE_STYLES: dict[CardState, StateStyle] = {
    CardState.WAITING: StateStyle("WAITING", WAITING_BG, INK, "waiting", outline="#8A8A8A"),
    CardState.RUNNING: StateStyle("RUNNING", OKABE_ITO["blue"], "#FFFFFF", "running"),
    CardState.PASS: StateStyle("PASS", OKABE_ITO["bluish_green"], "#000000", "pass"),
    CardState.FAIL: StateStyle("FAIL", OKABE_ITO["vermillion"], "#000000", "fail"),
    CardState.ERROR: StateStyle("ERROR", OKABE_ITO["orange"], "#000000", "error", hatch=True),
    CardState.STOPPED: StateStyle("STOPPED", "#D9D9D9", INK, "stopped", outline="#555555"),
    CardState.DONE_BEFORE: StateStyle("DONE", OKABE_ITO["sky_blue"], "#000000", "done"),
}

#: Step chips (small, read close up): the same vocabulary as the states.
CHIP_COLOURS = {
    "pending": ("#FFFFFF", "#6B6B6B"),
    "running": (OKABE_ITO["blue"], "#FFFFFF"),
    "passed": (OKABE_ITO["bluish_green"], "#000000"),
    "failed": (OKABE_ITO["vermillion"], "#000000"),
    "cancelled": ("#D9D9D9", "#000000"),
    "skipped": ("#EFEFEF", "#4A4A4A"),
}

PROMPT_BG = OKABE_ITO["yellow"]


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    c = QColor(hex_colour)

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ui_scale(screen_height: int | None = None) -> float:
    """1.0 at 768 px high, growing with the screen (1080p → 1.4), never below 1."""
    if screen_height is None:
        screen = QGuiApplication.primaryScreen()
        screen_height = screen.availableGeometry().height() if screen is not None else 768
    return max(1.0, min(2.5, screen_height / 768))


def px(base: float, scale: float) -> int:
    return max(1, round(base * scale))


def sans(pixel_size: int, *, bold: bool = False) -> QFont:
    f = QFont()
    f.setFamilies(SANS)
    f.setPixelSize(pixel_size)
    f.setBold(bold)
    return f


def mono(pixel_size: int, *, bold: bool = False) -> QFont:
    f = QFont()
    f.setFamilies(MONO)
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setPixelSize(pixel_size)
    f.setBold(bold)
    return f


def stylesheet(scale: float) -> str:
    """Chrome only (buttons, tables, bars); the cards paint their states themselves.

    No ``font-size`` on ``QWidget``: a style sheet font beats ``setFont``, and the cards size
    their text to themselves. The base size comes from :func:`apply_theme`'s application font.
    """
    body = px(15, scale)
    button_h = px(40, scale)
    return f"""
    QMainWindow, QDialog {{ background: {CANVAS}; }}
    QToolTip {{ font-size: {body}px; }}
    QPushButton {{ min-height: {button_h}px; padding: 0 {px(12, scale)}px; border: 2px solid #555;
                   border-radius: {px(6, scale)}px; background: #FFFFFF; }}
    QPushButton:hover {{ background: #F0F6FB; }}
    QPushButton:focus {{ border: 3px solid {OKABE_ITO["blue"]}; }}
    QPushButton:disabled {{ color: #8A8A8A; border-color: #B5B5B5; background: #F2F2F2; }}
    QPushButton#primary {{ background: {OKABE_ITO["blue"]}; color: #FFFFFF; border-color: #004E7A; font-weight: bold; }}
    QProgressBar {{ border: 2px solid #555; border-radius: {px(4, scale)}px; background: #FFFFFF;
                    min-height: {px(16, scale)}px; max-height: {px(22, scale)}px; text-align: center; }}
    QProgressBar::chunk {{ background: {OKABE_ITO["blue"]}; }}
    QHeaderView::section {{ font-weight: bold; padding: {px(4, scale)}px; }}
    QTableView {{ background: #FFFFFF; alternate-background-color: #F5F7F9; gridline-color: #D0D0D0; }}
    QTabBar::tab {{ min-height: {px(34, scale)}px; padding: 0 {px(14, scale)}px; }}
    QLineEdit, QComboBox, QSpinBox {{ min-height: {px(32, scale)}px; }}
    """


def apply_theme(app: QApplication, scale: float | None = None) -> float:
    """Fonts, a light palette and the chrome stylesheet; returns the scale used."""
    s = ui_scale() if scale is None else scale
    app.setFont(sans(px(15, s)))
    pal = app.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor(CANVAS))
    pal.setColor(QPalette.ColorRole.Base, QColor(SURFACE))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(INK))
    pal.setColor(QPalette.ColorRole.Text, QColor(INK))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(OKABE_ITO["blue"]))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#FFFFFF"))
    app.setPalette(pal)
    app.setStyleSheet(stylesheet(s))
    return s
