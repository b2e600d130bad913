"""Benchmark: modules written over Device OS's control protocol, against twins in realtime mode (prints figures).

    python bench/usb_updates.py

What a USB bench pays to write what DFU cannot, through the station's own client
(``station.hw.usb_update.update_module``: START / DATA chunks of 1024 bytes / FINISH, the reset
that applies the module, finding the device again by ID, GET_MODULE_INFO):

(a) a Boron's bootloader (44 KB), (b) an Argon's ESP32 NCP firmware (96 KB).

In realtime mode the twin charges what the hardware would spend (USB full-speed control transfers,
the OTA region's QSPI erase and programming, the ESP32's UART update, the bootloader's copy at the
next boot) and sleeps so wall time never runs ahead of it. Each line prints wall time, the device
time the twin modelled, the number of control transfers, and the machine's load beside them; wall
minus device time is the station's (and the emulator's) own share.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ["STATION_SIM_REALTIME"] = "1"

from station.firmware.demo import build_demo_modules
from station.firmware.demo_updates import build_bootloader_module, build_ncp_module
from station.firmware.module import module_flash_image, parse_module
from station.hw import backend
from station.hw.usb_update import ExpectedModule, update_module
from station.sim.bench import Bench, forget_twins
from station.sim.boot import boot_device
from station.sim.device import Twin
from station.sim.ncp import ship_ncp
from station.sim.usb_backend import SimUsbBackend


def _install(twin: Twin) -> None:
    mods = build_demo_modules(twin.platform.name)
    for role in ("bootloader", "softdevice", "system-part1", "user-factory-test"):
        img = module_flash_image(mods[role], parse_module(mods[role]))
        twin.flash[img.address : img.end] = img.data
    boot_device(twin, cause="power-on")


def _measure(label: str, twin: Twin, data: bytes) -> None:
    info = parse_module(data)
    want = ExpectedModule(int(info.function), info.index, info.version, info.sha256, label)
    transfers = 0
    original = SimUsbBackend.ctrl_transfer

    def counting(self, *args):  # type: ignore[no-untyped-def]
        nonlocal transfers
        transfers += 1
        return original(self, *args)

    SimUsbBackend.ctrl_transfer = counting  # type: ignore[method-assign]
    try:
        load = os.getloadavg()[0]
        before = twin.clock.snapshot()
        t0 = time.perf_counter()
        got = update_module(twin.device_id, data, want, timeout=300)
        wall = time.perf_counter() - t0
        spent = twin.clock.snapshot() - before
    finally:
        SimUsbBackend.ctrl_transfer = original  # type: ignore[method-assign]
    assert got.version == info.version and got.valid
    print(
        f"{label:<28} {len(data) / 1024:6.1f} KB  wall {wall:6.2f} s  device {spent.device:6.2f} s  "
        f"station+emulator {wall - spent.device:5.2f} s  {transfers} control transfers  "
        f"(load {load:.2f}, {os.cpu_count()} CPUs)"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp) / "bench", realtime=True)
        backend.use_sim(bench.path)
        try:
            boron = bench.create_one("boron01", "boron", seed=1)
            _install(boron)
            current = parse_module(build_demo_modules("boron")["bootloader"]).version
            _measure("(a) boron bootloader", boron, build_bootloader_module("boron", current + 1))
            argon = bench.create_one("argon01", "argon", seed=2)
            ship_ncp(argon, build_ncp_module("argon", 5))
            _install(argon)
            _measure("(b) argon NCP firmware", argon, build_ncp_module("argon", 7))
        finally:
            backend.stop_sim_hosts()
            backend.use_sim(None)
            forget_twins(bench.path)


if __name__ == "__main__":
    main()
