"""Twins as they arrive from the module maker: a bootloader in flash and nothing else.

A Gen3 module leaves Particle's line with its bootloader; a blank nRF52840 would not even enumerate
in DFU mode. Gen3 DFU cannot write the bootloader sectors, so a USB-only bench (the demo over USB,
the USB tests) starts from devices in this state; SWD benches can start from blank twins.
"""

from __future__ import annotations

from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.sim.device import Twin


def ship_with_bootloader(*twins: Twin) -> None:
    for twin in twins:
        data = build_demo_modules(twin.platform.name)["bootloader"]
        img = module_flash_image(data, parse_module(data), "bootloader")
        with twin.lock:
            twin.flash[img.address : img.end] = img.data
        twin.events.record("stocked", bootloader=parse_module(data).version)
