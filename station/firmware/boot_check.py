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

import hashlib
import struct
from collections.abc import Callable, Sequence

from station.domain import (
    GEN3_ADDR_LEGACY_USER_PART,
    GEN3_ADDR_USER_PART,
    NRF_PAGE_SIZE,
    FlashImage,
    ModuleFunction,
)
from station.firmware.base_image import (
    ERASED,
    MBR_BOOTLOADER_ADDR,
    MBR_SIZE,
    UICR_NRFFW0,
    bootloader_address,
    mbr_problem,
)
from station.firmware.gen3 import dependencies_satisfied, read_flash_modules
from station.firmware.module import PREFIX_SIZE

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


def product_problems(
    read: ReadFn,
    platform_id: int,
    product: FlashImage,
    factory_test: FlashImage | None = None,
    *,
    what: str = "product",
) -> list[str]:
    """Why the device would not run exactly ``product`` (empty: it would), from flash contents.

    ``what`` names the part in the messages: the product, or the factory-test firmware when the
    run proves, before the tests, that the test firmware is what will start.

    ``product`` and ``factory_test`` are the user parts as written (a user part is written whole,
    module info at its start). The user part is found where Device OS looks for it
    (:func:`read_flash_modules`: the 128 KB compat slot first, then the 256 KB slot, each only if
    its module info names that address), so this is the part that will run, not merely a part
    somewhere in flash. It must be valid, lie where the product lies, and hash (all its bytes,
    SHA-256) to the product file the profile pins; its dependencies must be met, or Device OS
    would start safe mode instead. No factory-test image may be left: not in either user slot,
    and not in a page it occupied that the product does not cover (what a shorter product leaves).
    """
    modules = read_flash_modules(read, platform_id)
    users = [m for m in modules if m.function == ModuleFunction.USER_PART]
    if not users:
        return [f"no user part where Device OS looks for one (0xD4000, 0xB4000): the {what} is not on the device"]
    user = users[0]
    problems: list[str] = []
    if not user.valid:
        problems.append(f"the user part at 0x{user.start:05X} is not valid: {user.reason}")
    if (user.start, user.end + 4) != (product.address, product.end):
        problems.append(
            f"the user part Device OS would run is 0x{user.start:05X}-0x{user.end + 4:05X}, "
            f"the {what} is 0x{product.address:05X}-0x{product.end:05X}"
        )
    else:
        digest = hashlib.sha256(read(product.address, len(product.data))).hexdigest()
        want = hashlib.sha256(product.data).hexdigest()
        if digest != want:
            is_test = factory_test is not None and digest == hashlib.sha256(factory_test.data).hexdigest()
            problems.append(
                f"the user part is the factory-test firmware, not the {what}" if is_test
                else f"the user part's SHA-256 is {digest[:12]}…, the {what}'s {want[:12]}…"
            )
    ok, unmet = dependencies_satisfied(modules)
    if not ok:
        problems.extend(f"unmet dependency (Device OS would start safe mode): {u}" for u in unmet)
    if factory_test is not None:
        problems.extend(_factory_test_left(read, product, factory_test))
    return problems


def _factory_test_left(read: ReadFn, product: FlashImage, test: FlashImage) -> list[str]:
    """Where the factory-test image (or what is left of it) still is, outside the product's bytes."""
    found: list[str] = []
    prefix = test.data[:PREFIX_SIZE]
    for slot in (GEN3_ADDR_LEGACY_USER_PART, GEN3_ADDR_USER_PART):
        if slot != product.address and read(slot, PREFIX_SIZE) == prefix:
            found.append(f"the factory-test firmware's module info is still at 0x{slot:05X}")
    lo, hi = leftover_pages(product, test)
    if lo < hi and read(lo, hi - lo) != b"\xff" * (hi - lo):
        found.append(f"the factory-test firmware's pages 0x{lo:05X}-0x{hi:05X} beyond the product are not erased")
    return found


def leftover_pages(product: FlashImage, test: FlashImage) -> tuple[int, int]:
    """The page range the factory-test image occupied past the product's last page (empty: lo >= hi)."""
    page = NRF_PAGE_SIZE
    lo = max(test.address, -(-product.end // page) * page)
    hi = -(-test.end // page) * page
    return lo, hi
