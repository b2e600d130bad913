"""GUI tests: headless (QT_QPA_PLATFORM=offscreen), one QApplication per session (pytest-qt).

They need the ``gui`` extra; without PySide6 they are skipped with that reason (CI installs it).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6", reason="the GUI tests need the gui extra: pip install -e '.[gui,test]'")
pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt (test extra)")
