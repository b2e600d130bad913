"""Fixtures for the station's USB/DFU/serial transports, driven against twins through real pyusb/pyserial."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.hw import backend
from station.hw.interfaces import FlashImage
from station.sim.bench import Bench, forget_twins, set_default_bench
from station.sim.boot import boot_device
from station.sim.device import Twin


@pytest.fixture
def sim_bench(tmp_path: Path) -> Iterator[Bench]:
    """A bench the station uses as its hardware (``use_sim``), with the pty host running."""
    b = Bench(tmp_path / "bench")
    b.path.mkdir()
    backend.use_sim(b.path)
    yield b
    backend.stop_sim_hosts()
    backend.use_sim(None)
    set_default_bench(None)
    forget_twins(b.path)


@functools.cache
def demo_images(platform: str = "boron") -> dict[str, FlashImage]:
    from station.firmware.demo import build_demo_modules
    from station.firmware.module import module_flash_image, parse_module

    return {
        role: module_flash_image(data, parse_module(data), role) for role, data in build_demo_modules(platform).items()
    }


def install(twin: Twin, app: str = "user-factory-test") -> None:
    """Put the demo firmware straight into flash and boot it (a device that left assembly flashed)."""
    imgs = demo_images(twin.platform.name)
    for role in ("bootloader", "softdevice", "system-part1", app):
        img = imgs[role]
        twin.flash[img.address : img.end] = img.data
    boot_device(twin, cause="power-on")


def dfu_set(platform: str = "boron", app: str = "user-factory-test") -> list[FlashImage]:
    """The modules a station writes over DFU (the bootloader is not DFU-writable on Gen3)."""
    imgs = demo_images(platform)
    return [imgs["softdevice"], imgs["system-part1"], imgs[app]]
