"""End-to-end fixtures: a bench of twins the station uses as its hardware, the demo firmware in a
cache, a registry, and a way to run the real pipeline on chosen slots."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from station.domain import Transport
from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.pipeline.events import Event
from station.pipeline.job import Job, SlotResult
from station.pipeline.line import SlotSpec, prepare_job, run_slots
from station.sim.bench import Bench
from station.sim.device import Twin
from station.sim.stock import ship_with_bootloader  # noqa: F401 - re-exported for the tests
from station.store.registry import Registry

REPO = Path(__file__).resolve().parents[2]
#: the core stopped by the debugger (at a halt request, or at the flash algorithm's breakpoint)
HALTED_STATES = ("halted", "debug")
DEMO_BORON = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


@pytest.fixture
def bench(station_bench: Bench) -> Bench:
    return station_bench


@pytest.fixture(scope="session")
def _demo_cache_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache-template")
    cache = FirmwareCache(root)
    install_demo_firmware(cache, "boron")
    install_demo_firmware(cache, "bsom")
    return root


@pytest.fixture
def cache(tmp_path: Path, _demo_cache_template: Path) -> FirmwareCache:
    import shutil

    root = tmp_path / "cache"
    shutil.copytree(_demo_cache_template, root)
    return FirmwareCache(root)


def profile_variant(tmp_path: Path, edit: Callable[[str], str], name: str = "variant.toml",
                    base: Path = DEMO_BORON) -> Path:
    """A copy of a shipped profile with a textual edit (the way an engineer derives one)."""
    p = tmp_path / name
    p.write_text(edit(base.read_text()))
    return p


def drop_tests(text: str, *names: str) -> str:
    """Remove ``[[tests]]`` blocks by name from profile text."""
    blocks = re.split(r"(?m)^(?=\[\[tests\]\])", text)
    keep = [b for b in blocks if not any(re.search(rf'(?m)^name = "{re.escape(n)}"', b) for n in names)]
    return "".join(keep)


class Line:
    """Runs the real pipeline against the bench, collecting events."""

    def __init__(self, bench: Bench, cache: FirmwareCache, registry: Registry, tmp_path: Path) -> None:
        self.bench, self.cache, self.registry, self.tmp = bench, cache, registry, tmp_path
        self.events: list[Event] = []
        self.hooks: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    def sink(self, ev: Event) -> None:
        with self._lock:
            self.events.append(ev)
        for hook in self.hooks:
            hook(ev)

    def job(self, profile: Path = DEMO_BORON, **kw: Any) -> Job:
        kw.setdefault("ask_operator", lambda step, q, t: True)
        return prepare_job(
            profile_path=profile, cache=self.cache, registry=self.registry, station="test-station",
            operator="tester", sink=self.sink, labels_dir=self.tmp / "labels", **kw,
        )

    def swd(self, twins: list[Twin], profile: Path = DEMO_BORON, **kw: Any) -> list[SlotResult]:
        job = self.job(profile, **kw)
        slots = [SlotSpec(str(i + 1), Transport.SWD, t.identity.probe_uid) for i, t in enumerate(twins)]
        return run_slots(job, slots)

    def usb(self, twins: list[Twin], profile: Path = DEMO_BORON, **kw: Any) -> list[SlotResult]:
        job = self.job(profile, **kw)
        return run_slots(job, [SlotSpec(t.device_id, Transport.USB, t.device_id) for t in twins])


@pytest.fixture
def line(bench: Bench, cache: FirmwareCache, registry: Registry, tmp_path: Path) -> Line:
    return Line(bench, cache, registry, tmp_path)


def never_connected(twin: Twin) -> None:
    kinds = twin.events.kinds()
    assert "first_connect" not in kinds, f"{twin.name} made its first cloud connection: {twin.events.read()}"
    assert "key_lost" not in kinds, f"{twin.name} lost its device key"
    assert twin.key_present()

