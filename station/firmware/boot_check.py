"""Will this nRF52840 boot? The proof a station makes before a device may end its run.

The chain a Gen3 part follows from reset, each link checked the way the silicon and Device OS
check it (facts: ARMv7-M reset sequence; nRF5 SDK ``nrf_mbr.h``; device-os
``bootloader/src/nRF52840`` and ``hal/src/nRF52840/ota_flash_hal.cpp``):

1. the MBR page at 0x0 is there (SP in RAM, a reset handler inside the page), and, when the
   profile names a base image, byte for byte the MBR it carries;
2. the MBR finds a bootloader address (its word 0xFF8, else UICR.NRFFW[0]);
3. a valid bootloader module (CRC, platform) starts at that address;
4. a valid system part is present, a valid user part is present, and every module's
   dependencies are met by valid modules (the checks Device OS makes before it runs a part; a
   failed one means safe mode, which connects to the cloud).

Reads go through ``read(address, size)`` so the same proof works over any link that can read
memory (SWD here; the debug port reads the UICR like flash).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from station.domain import FlashImage, ModuleFunction
from station.firmware.base_image import (
    ERASED,
    MBR_BOOTLOADER_ADDR,
    MBR_SIZE,
    UICR_NRFFW0,
    bootloader_address,
    mbr_problem,
)
from station.firmware.gen3 import dependencies_satisfied, read_flash_modules

ReadFn = Callable[[int, int], bytes]


def overlay_reader(images: Sequence[FlashImage], read: ReadFn) -> ReadFn:
    """A reader that serves bytes from ``images`` where they cover the range, and from ``read`` elsewhere."""
    ordered = sorted(images, key=lambda i: i.address)

    def overlaid(address: int, size: int) -> bytes:
        out = bytearray()
        addr, end = address, address + size
        while addr < end:
            img = next((i for i in ordered if i.address <= addr < i.end), None)
            if img is not None:
                stop = min(end, img.end)
                out += img.data[addr - img.address : stop - img.address]
            else:
                stop = min([end, *(i.address for i in ordered if i.address > addr)])
                out += read(addr, stop - addr)
            addr = stop
        return bytes(out)

    return overlaid


def boot_problems(read: ReadFn, platform_id: int, *, expected_mbr: bytes | None = None) -> list[str]:
    """Why the device in front of the probe would not boot (empty: it will)."""
    mbr = read(0, MBR_SIZE)
    why = mbr_problem(mbr)
    if why:
        return [why]
    if expected_mbr is not None and mbr != expected_mbr:
        first = next(i for i, (a, b) in enumerate(zip(mbr, expected_mbr, strict=True)) if a != b)
        return [f"the MBR page differs from the profile's base image (first at 0x{first:04X})"]
    nrffw0 = struct.unpack("<I", read(UICR_NRFFW0, 4))[0]
    address = bootloader_address(mbr, nrffw0)
    if address is None:
        own = struct.unpack_from("<I", mbr, MBR_BOOTLOADER_ADDR)[0]
        assert own == ERASED
        return [f"the MBR finds no bootloader address: UICR.NRFFW[0] (0x{UICR_NRFFW0:08X}) is erased"]
    modules = read_flash_modules(read, platform_id)
    boot = next((m for m in modules if m.function == ModuleFunction.BOOTLOADER and m.start == address), None)
    if boot is None:
        return [f"no bootloader module starts at 0x{address:05X}, where the MBR jumps (UICR.NRFFW[0])"]
    if not boot.valid:
        return [f"the bootloader at 0x{address:05X} is not valid: {boot.reason}"]
    problems: list[str] = []
    for function, what in (
        (ModuleFunction.SYSTEM_PART, "system part"),
        (ModuleFunction.USER_PART, "user part"),
    ):
        found = [m for m in modules if m.function == function]
        if not any(m.valid for m in found):
            problems.append(f"no valid {what}" + (f": {found[0].reason}" if found else ""))
    ok, unmet = dependencies_satisfied(modules)
    if not ok:
        problems.extend(f"unmet dependency: {u}" for u in unmet)
    return problems
