"""Cloud test fixtures: a registry with passed devices queued for the cloud, and the fake APIs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends.null import Keyring as NullKeyring

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


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No credential from the user's keyring or environment, and no API URL override, so a test
    sees only the credentials and servers it sets itself (the CLI tests use it: ``usefixtures``)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(NullKeyring())
    for var in ("PARTICLE_ACCESS_TOKEN", "PERIDIO_API_KEY", "STATION_PARTICLE_API", "STATION_PERIDIO_API",
                "PARTICLE_API_URL", "PERIDIO_API_URL"):
        monkeypatch.delenv(var, raising=False)
    yield
    keyring.set_keyring(previous)
