"""The boot gate: the page that decides whether a Gen3 device may leave its bootloader for Device OS.

Device OS connects on its own whenever it runs anything but MANUAL-mode firmware — and in safe
mode, which it enters when the user part is invalid (device-os ``hal/src/nRF52840/core_hal.c``
``HAL_Core_Validate_User_Module``). So a flash of the user part that stops half way (a pulled
cable, a stuck word) leaves a device that goes online at its next power-up, unless Device OS
itself cannot start. What decides that is the bootloader (device-os HEAD, 6.2.0):

* ``bootloader/src/main.c``: after applying staged updates it jumps to Device OS only if
  ``is_application_valid(CORE_FW_ADDRESS)``; otherwise it "drops through to DFU mode", which has
  no network stack (and on nRF52840 no factory-reset fallback either: that branch is compiled out).
* ``bootloader/src/nRF52840/dfu_usb.c`` ``is_application_valid``: ``FLASH_isUserModuleInfoValid``
  (the module info's start address is that address, its end ≤ 1 MB, its platform is this one)
  and ``FLASH_VerifyCRC32`` over the module, at CORE_FW_ADDRESS (0x28000,
  ``platform/MCU/nRF52840/inc/flash_mal.h``) and else at the legacy 0x30000.
* ``platform/MCU/nRF52840/src/flash_mal.c`` ``FLASH_ModuleInfo``: the info sits 0x200 into the
  module when its first word looks like a stack pointer, else at the start.

Device OS 6.2 moved the system part to 0x28000 and links a second, *legacy* vector table and
module info into it at 0x30000 / 0x30200, with a CRC of its own (``modules/shared/nRF52840/
linker_system_part1_common.ld``, ``.module_info_legacy``), so that bootloaders which only look at
0x30000 still find it. The gate is therefore the first page at *each* address the bootloader
tries that lies inside the system part: 0x28000 and 0x30000 for a 6.2 system part, 0x30000 for
an older one. While those pages are erased (the gate *closed*) the bootloader finds no Device OS
and stays in DFU whatever else flash holds: every other page can be written, in any order, and a
power-up at any moment cannot start Device OS. The pages are written back (the gate *opened*)
only once what Device OS would run is proven; a write of them interrupted part way may leave
one entry valid, which is why the station treats the gate as possibly open from the moment it
starts writing it. The station never changes the bootloader, the MBR or the UICR to get this, so
a closed device is always re-flashable over USB (DFU) and SWD.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from station.domain import GEN3_ADDR_SYSTEM_PART1, NRF_PAGE_SIZE, FlashImage, ModuleFunction
from station.errors import FirmwareError

ReadFn = Callable[[int, int], bytes]

#: where the bootloader looks for Device OS: CORE_FW_ADDRESS, then the legacy system-part address
SYSTEM_PART_ADDRESSES = (GEN3_ADDR_SYSTEM_PART1, 0x30000)
_INFO_OFFSET = 0x200  # after the vector table (FLASH_ModuleInfo)
_BLANK = b"\xff" * NRF_PAGE_SIZE
#: CRC-32 of an erased page: a closed gate, checked on the target without reading it back
BLANK_PAGE_CRC = zlib.crc32(_BLANK)


@dataclass(frozen=True)
class BootGate:
    """The pages whose contents decide whether Device OS can start; ``pages`` as they must read for it to."""

    pages: tuple[FlashImage, ...]

    @property
    def addresses(self) -> list[int]:
        return [p.address for p in self.pages]

    @property
    def closed_images(self) -> list[FlashImage]:
        """What closes the gate: its pages erased."""
        return [FlashImage(p.address, _BLANK, f"boot gate 0x{p.address:05X} (erased)") for p in self.pages]

    @property
    def open_images(self) -> list[FlashImage]:
        return list(self.pages)

    def describe(self) -> str:
        return ", ".join(f"0x{a:05X}" for a in self.addresses)

    def without_pages(self, images: Sequence[FlashImage]) -> list[FlashImage]:
        """``images`` with the gate pages' bytes cut out (written only when the gate opens)."""
        out = list(images)
        for lo in self.addresses:
            out = _cut(out, lo, lo + NRF_PAGE_SIZE)
        return out


def _cut(images: Sequence[FlashImage], lo: int, hi: int) -> list[FlashImage]:
    out: list[FlashImage] = []
    for img in images:
        if img.end <= lo or img.address >= hi:
            out.append(img)
            continue
        if img.address < lo:
            out.append(FlashImage(img.address, img.data[: lo - img.address], img.label))
        if img.end > hi:
            out.append(FlashImage(hi, img.data[hi - img.address :], img.label))
    return out


def gate_for(system_part: FlashImage | None, read: ReadFn) -> BootGate:
    """The gate of a run: in the system part the run writes, else in the one the device holds.

    A set with a system part defines the pages (they are about to be written anyway). Without one
    the device's own pages are kept, read before they are erased; a device with no system part
    has its gate at CORE_FW_ADDRESS, erased already, and opening it changes nothing.
    """
    if system_part is not None:
        start, end, data = system_part.address, system_part.end, system_part.data
    else:
        found = device_system_part(read)
        start, end = found if found is not None else (GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_SYSTEM_PART1 + NRF_PAGE_SIZE)
        data = b""
    pages: list[FlashImage] = []
    for address in SYSTEM_PART_ADDRESSES:
        if not start <= address < end:
            continue
        if system_part is not None:
            page = data[address - start : address - start + NRF_PAGE_SIZE]
            page += _BLANK[len(page) :]
        else:
            page = read(address, NRF_PAGE_SIZE)
        pages.append(FlashImage(address, page, f"boot gate 0x{address:05X}"))
    if not pages:
        raise FirmwareError(
            f"the system part at 0x{start:05X}-0x{end:05X} covers neither address the bootloader starts Device OS "
            "from (0x28000, 0x30000): the station cannot keep it from starting"
        )
    return BootGate(tuple(pages))


def device_system_part(read: ReadFn) -> tuple[int, int] | None:
    """(start, end) of the device's system part, by its module info (no CRC: where, not whether valid)."""
    for address in SYSTEM_PART_ADDRESSES:
        first = struct.unpack("<I", read(address, 4))[0]
        at = address + (_INFO_OFFSET if first & 0x2FFC0000 == 0x20000000 else 0)
        start, end = struct.unpack("<II", read(at, 8))
        function = read(at + 14, 1)[0]
        if start == address and start < end <= 0x100000 and function == int(ModuleFunction.SYSTEM_PART):
            return start, end
    return None


def is_closed(page: bytes) -> bool:
    """A gate page that holds no module info at all (erased): the bootloader cannot start from it."""
    return page == _BLANK[: len(page)]
