"""Dialog sizes that fit the screen: the 1366x768 line PC as well as a 1080p touch screen."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def fit(widget: QWidget, width: int, height: int, margin: int = 24) -> None:
    """Resize to ``width`` x ``height`` (already scaled), never past the screen's free area."""
    parent = widget.parentWidget()
    screen = (parent or widget).screen()
    if screen is not None:
        free = screen.availableGeometry()
        width, height = min(width, free.width() - margin), min(height, free.height() - margin)
    widget.resize(width, height)
