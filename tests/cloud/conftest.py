"""Cloud test fixtures: a registry with passed devices queued for the cloud, and the fake APIs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_cloud import FakeParticle, FakePeridio


@pytest.fixture
def fake_particle() -> Iterator[FakeParticle]:
    with FakeParticle() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def fake_peridio() -> Iterator[FakePeridio]:
    with FakePeridio() as fake:
        yield fake  # type: ignore[misc]
