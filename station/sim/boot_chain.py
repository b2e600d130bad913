"""What the nRF52840 does between reset and Device OS's bootloader: the MBR and UICR.NRFFW[0].

The twin's own reading of the silicon and Nordic's MBR, deliberately not the station's
(:mod:`station.firmware.base_image` is what the twin checks):

* At reset a Cortex-M4 loads SP from word 0 and PC from word 1 of address 0 (ARMv7-M vector
  table, VTOR = 0 after reset). On an nRF52840 that page (0x0000–0x0FFF) is Nordic's MBR; no
  Particle module carries it (device-os ``build/create_module.py`` cuts it off the SoftDevice).
  Erased flash gives SP 0xFFFFFFFC, PC 0xFFFFFFFE: the core locks up at once.
* The MBR jumps to the bootloader whose address it finds in its own word 0xFF8
  (``MBR_BOOTLOADER_ADDR``) or, when that is erased, in UICR.NRFFW[0] at 0x10001014
  (``MBR_UICR_BOOTLOADER_ADDR``; nRF5 SDK ``nrf_mbr.h``). With neither, the stock MBR forwards to
  the SoftDevice, which starts the application at its own end (0x27000 on Particle's layout: the
  MBR parameter page, never code), so the core faults.
* What the MBR jumps to must be a bootloader that runs: on Particle's layout a bootloader module
  (function 2) whose prefix says it starts at that address and whose CRC holds.

The twin does not execute the MBR (it is modelled, like the rest of the firmware): a page whose
vector table is plausible (SP in RAM, a Thumb reset handler inside the page) counts as the MBR.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass

from station.sim.device import Twin

MBR_PAGE = 0x1000
MBR_OWN_BOOTLOADER_WORD = 0xFF8
UICR_NRFFW0 = 0x014  # offset in the UICR
UICR_NRFFW1 = 0x018
ERASED_WORD = 0xFFFFFFFF
_RAM = (0x20000000, 0x20040000)
#: Device OS puts the bootloader's module prefix 0x200 into the module (after its vector table).
BOOTLOADER_PREFIX_OFFSET = 0x200
BOOTLOADER_FUNCTION = 2


@dataclass(frozen=True)
class ChainResult:
    """Whether reset reaches a bootloader; ``why`` says where the chain broke when it does not."""

    bootloader_address: int | None
    why: str | None

    @property
    def boots(self) -> bool:
        return self.why is None


def _word(buf: bytes | bytearray | mmap.mmap, offset: int) -> int:
    return int(struct.unpack_from("<I", buf, offset)[0])


def mbr_fault(page: bytes) -> str | None:
    """Why the core cannot start from this MBR page, or None."""
    sp, pc = struct.unpack_from("<II", page)
    if (sp, pc) == (ERASED_WORD, ERASED_WORD):
        return "no MBR: the reset vector at 0x00000004 is erased (PC 0xFFFFFFFE, core lockup)"
    if not (_RAM[0] < sp <= _RAM[1]):
        return f"no MBR: initial SP 0x{sp:08X} is not in RAM (core lockup)"
    if not pc & 1 or not 8 <= (pc & ~1) < MBR_PAGE:
        return f"no MBR: the reset vector 0x{pc:08X} does not point into the MBR page (core fault)"
    return None


def follow(twin: Twin) -> ChainResult:
    """Reset → MBR → bootloader address → a bootloader module there, on the twin's flash and UICR."""
    flash = twin.flash
    why = mbr_fault(bytes(flash[0:MBR_PAGE]))
    if why:
        return ChainResult(None, why)
    address = _word(flash, MBR_OWN_BOOTLOADER_WORD)
    if address == ERASED_WORD:
        address = _word(twin.uicr, UICR_NRFFW0)
    if address == ERASED_WORD:
        return ChainResult(
            None,
            "the MBR finds no bootloader address (UICR.NRFFW[0] erased): the core faults past the SoftDevice",
        )
    if not 0x1000 <= address < len(flash) - BOOTLOADER_PREFIX_OFFSET - 24:
        return ChainResult(address, f"UICR.NRFFW[0] = 0x{address:08X} is not in flash: the core faults")
    why = _bootloader_fault(bytes(flash), address)
    return ChainResult(address, why)


def _bootloader_fault(flash: bytes, address: int) -> str | None:
    """A Particle bootloader module must start at ``address`` with an intact CRC (module_info.h)."""
    prefix = address + BOOTLOADER_PREFIX_OFFSET
    start, end = struct.unpack_from("<II", flash, prefix)
    function = flash[prefix + 14]
    where = f"0x{address:05X} (UICR.NRFFW[0])"
    if (start, end) == (ERASED_WORD, ERASED_WORD):
        return f"no bootloader at {where}: erased flash, the core faults"
    if function != BOOTLOADER_FUNCTION or start != address or not start < end <= len(flash) - 4:
        return f"no valid bootloader at {where}: no bootloader module starts there"
    if struct.pack(">I", zlib.crc32(flash[start:end])) != flash[end : end + 4]:
        return f"no valid bootloader at {where}: its CRC does not match (corrupt), the core faults"
    return None
