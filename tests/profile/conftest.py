"""Fixtures for profile tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[[str], Path]:
    """Write a profile text to a file and return its path."""

    def write(text: str, name: str = "p.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
