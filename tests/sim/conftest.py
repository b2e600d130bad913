"""Fixtures for the twin's tests: a temporary default bench, twins on it, demo firmware images."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.domain import FlashImage
from station.sim.bench import Bench, forget_twins, set_default_bench
from station.sim.chip import drop_chip
from station.sim.device import Twin


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    """An empty bench that is also the process's default bench (what pyocd discovery sees)."""
    b = Bench(tmp_path / "bench")
    b.path.mkdir()
    set_default_bench(b.path)
    yield b
    set_default_bench(None)
    for twin in b.twins():
        drop_chip(twin)
    forget_twins(b.path)


@pytest.fixture
def twin(bench: Bench) -> Twin:
    return bench.create(1, seed=1)[0]


@functools.cache
def _demo_images(platform: str) -> dict[str, FlashImage]:
    from station.firmware.demo import build_demo_modules
    from station.firmware.module import module_flash_image, parse_module

    out = {}
    for role, data in build_demo_modules(platform).items():
        out[role] = module_flash_image(data, parse_module(data), role)
    return out


class DemoFirmware:
    """The demo module set as flash images (address + the bytes as they land in flash)."""

    def images(self, platform: str = "boron") -> dict[str, FlashImage]:
        return _demo_images(platform)

    def write(self, twin: Twin, *images: FlashImage) -> None:
        """Put images into a twin's flash directly (a device that left the factory that way)."""
        for img in images:
            twin.flash[img.address : img.end] = img.data

    def install(self, twin: Twin, app: str = "user-product", *, skip: tuple[str, ...] = ()) -> None:
        imgs = self.images(twin.platform.name)
        roles = ["bootloader", "softdevice", "system-part1", app]
        self.write(twin, *(imgs[r] for r in roles if r not in skip))


@pytest.fixture
def demo() -> DemoFirmware:
    return DemoFirmware()


@pytest.fixture
def sim_env(bench: Bench) -> dict[str, str]:
    """Environment for a subprocess that should see ``bench`` as its default bench."""
    env = dict(os.environ)
    env["STATION_SIM_DIR"] = str(bench.path)
    env.pop("STATION_SIM_REALTIME", None)
    return env
