"""Fixtures for the station's USB/DFU/serial transports, driven against twins through real pyusb/pyserial."""

from __future__ import annotations

import functools

import pytest

from station.domain import FlashImage
from station.sim.bench import Bench
from station.sim.boot import boot_device
from station.sim.device import Twin


@pytest.fixture
def sim_bench(station_bench: Bench) -> Bench:
    """A bench the station uses as its hardware (``use_sim``), with the pty host running."""
    return station_bench


@pytest.fixture
def bench(station_bench: Bench) -> Bench:
    return station_bench


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
