"""Nothing on screen depends on an emoji font: a factory PC without one shows an empty box."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from station.ui.gate import GatedButton

UI = Path(__file__).resolve().parents[2] / "station" / "ui"
# Misc symbols, dingbats and the supplementary emoji planes: what DejaVu/Liberation lack.
EMOJI = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff]")


def test_no_ui_string_holds_an_emoji() -> None:
    found = []
    for path in sorted(UI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and EMOJI.search(node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value[:40]!r}")
    assert found == []


def test_a_locked_button_shows_a_drawn_padlock_beside_its_words(qtbot: QtBot) -> None:
    button = GatedButton("Recover chip")
    qtbot.addWidget(button)
    button.set_allowed(False, "engineers only")
    assert button.text() == "Recover chip"
    assert button.iconSize().height() == button.fontMetrics().height()
    image = button.icon().pixmap(32, 32).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    inked = sum(1 for x in range(image.width()) for y in range(image.height()) if image.pixelColor(x, y).alpha() > 128)
    assert inked > 0.15 * image.width() * image.height()  # a padlock's body, not an empty icon
    button.set_allowed(True)
    assert button.icon().isNull() and button.text() == "Recover chip"
