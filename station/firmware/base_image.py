"""The base image a blank nRF52840 needs before Particle's modules can boot: the MBR and UICR words.

No Particle module carries the MBR page (0x0000–0x0FFF): the radio-stack module starts at 0x1000
(device-os ``build/create_module.py`` strips the first 0x1000 bytes of Nordic's SoftDevice hex,
"Skip MBR"). At reset the core loads its stack pointer and reset vector from address 0, i.e. from
the MBR, and the MBR jumps to the bootloader whose address it reads from flash 0xFF8 or, when
that word is erased, from UICR.NRFFW[0] (nRF5 SDK ``nrf_mbr.h``: ``MBR_BOOTLOADER_ADDR`` 0xFF8,
``MBR_UICR_BOOTLOADER_ADDR`` = NRFFW[0]; ``MBR_PARAM_PAGE_ADDR`` 0xFFC / NRFFW[1]). So a chip
fresh from Nordic needs, besides the modules:

* the MBR page, as Nordic ships it in front of the SoftDevice (or in Particle's restore images);
* UICR.NRFFW[0] (0x10001014) = 0xF4000, the Particle bootloader;
* UICR.NRFFW[1] (0x10001018) = the MBR parameter page. Device OS's bootloader writes this one
  itself when it is erased (``platform/MCU/nRF52840/src/hw_config.c`` ``configure_uicr``), so a
  base image may carry it or not; if it does, it must be the page the release uses.

A base image is an Intel HEX file carrying those (``station cache add`` takes it like any HEX);
:func:`base_image_facts` reads one and :func:`check_base_image` says what is missing.

The demo ships one (:func:`demo_base_image`). Its MBR is format-faithful but is not Nordic's code
(which is licensed, and not needed to exercise a station): a Cortex-M vector table whose initial
stack pointer is in RAM and whose handlers are Thumb addresses inside the page, deterministic
filler where Nordic's code would be, the rest of the page erased, and 0xFF8/0xFFC erased so the
MBR takes both addresses from the UICR as a stock Nordic MBR does.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from station.domain import GEN3_ADDR_BOOTLOADER, NRF_UICR, NRF_UICR_SIZE, FlashImage
from station.firmware.build import filler
from station.firmware.images import to_hex
from station.firmware.releases import MBR_PARAMS_PAGE

MBR_SIZE = 0x1000
MBR_BOOTLOADER_ADDR = 0xFF8
MBR_PARAM_PAGE_ADDR = 0xFFC
UICR_NRFFW0 = NRF_UICR + 0x014
UICR_NRFFW1 = NRF_UICR + 0x018
UICR_APPROTECT = NRF_UICR + 0x208
ERASED = 0xFFFFFFFF
_RAM = (0x20000000, 0x20040000)
_MBR_RESET_HANDLER = 0x0A80
_MBR_CODE_END = 0x0B00


@dataclass(frozen=True)
class BaseImage:
    """What a base image would put on a chip."""

    mbr: bytes | None  # the 4 KB page at 0x0, when the file covers it completely
    uicr: dict[int, int] = field(default_factory=dict)  # absolute UICR address → word

    @property
    def bootloader_address(self) -> int | None:
        return bootloader_address(self.mbr, self.uicr.get(UICR_NRFFW0, ERASED)) if self.mbr else None

    def images(self) -> list[FlashImage]:
        out: list[FlashImage] = []
        if self.mbr is not None:
            out.append(FlashImage(0, self.mbr, "MBR"))
        return out


def mbr_problem(page: bytes) -> str | None:
    """Why the core could not start from this page (None when it is a plausible MBR).

    What the core does at reset is load SP from word 0 and PC from word 1; an erased page gives
    PC 0xFFFFFFFE and a lockup. A plausible MBR has SP in RAM and a Thumb reset handler inside
    the page itself.
    """
    if len(page) < 8:
        return "no MBR page"
    sp, pc = struct.unpack_from("<II", page)
    if (sp, pc) == (ERASED, ERASED):
        return "the MBR page (0x0000-0x0FFF) is erased: the reset vector reads 0xFFFFFFFE"
    if not (_RAM[0] < sp <= _RAM[1]):
        return f"the MBR's initial stack pointer 0x{sp:08X} is not in RAM"
    if not (pc & 1) or not (8 <= (pc & ~1) < MBR_SIZE):
        return f"the MBR's reset vector 0x{pc:08X} does not point into the MBR page"
    return None


def bootloader_address(mbr: bytes, nrffw0: int) -> int | None:
    """Where the MBR jumps: its own word at 0xFF8 if programmed, else UICR.NRFFW[0]; None if neither."""
    own = struct.unpack_from("<I", mbr, MBR_BOOTLOADER_ADDR)[0] if len(mbr) >= MBR_SIZE else ERASED
    address = own if own != ERASED else nrffw0
    return None if address == ERASED else address


def base_image_facts(images: Sequence[FlashImage]) -> BaseImage:
    """The MBR page and UICR words a set of HEX segments carries."""
    mbr: bytes | None = None
    page = bytearray(b"\xff" * MBR_SIZE)
    covered = 0
    uicr: dict[int, int] = {}
    for img in images:
        lo, hi = max(img.address, 0), min(img.end, MBR_SIZE)
        if lo < hi:
            page[lo:hi] = img.data[lo - img.address : hi - img.address]
            covered += hi - lo
        ulo, uhi = max(img.address, NRF_UICR), min(img.end, NRF_UICR + NRF_UICR_SIZE)
        for word in range(ulo - ulo % 4, uhi, 4):
            if word >= ulo and word + 4 <= uhi:
                value = int.from_bytes(img.data[word - img.address : word - img.address + 4], "little")
                if value != ERASED:
                    uicr[word] = value
    if covered:
        mbr = bytes(page)
    return BaseImage(mbr, uicr)


def check_base_image(base: BaseImage, *, bootloader_start: int | None = GEN3_ADDR_BOOTLOADER) -> list[str]:
    """Everything missing for the MBR to reach the bootloader (empty when the image will do)."""
    problems: list[str] = []
    if base.mbr is None:
        problems.append("it carries no MBR (nothing at 0x0000-0x0FFF)")
    else:
        why = mbr_problem(base.mbr)
        if why:
            problems.append(why)
    if base.mbr is not None:
        address = base.bootloader_address
        if address is None:
            problems.append("it sets no bootloader address (UICR.NRFFW[0] at 0x10001014, or MBR word 0xFF8)")
        elif bootloader_start is not None and address != bootloader_start:
            problems.append(
                f"its bootloader address 0x{address:X} is not where the bootloader module starts "
                f"(0x{bootloader_start:X})"
            )
    if UICR_APPROTECT in base.uicr and base.uicr[UICR_APPROTECT] & 0xFF not in (0xFF, 0x5A):
        problems.append("it would lock the debug port (UICR.APPROTECT) before the line has run")
    return problems


def demo_mbr() -> bytes:
    """A format-faithful MBR page (see the module docstring for what is and is not real)."""
    page = bytearray(b"\xff" * MBR_SIZE)
    vectors = [0x20000400, _MBR_RESET_HANDLER | 1] + [(_MBR_RESET_HANDLER + 0x20 + 4 * i) | 1 for i in range(14)]
    struct.pack_into("<16I", page, 0, *vectors)
    page[0x40:_MBR_CODE_END] = filler("station-demo/mbr", _MBR_CODE_END - 0x40)
    return bytes(page)


def demo_base_image(*, mbr_params_page: int = MBR_PARAMS_PAGE) -> bytes:
    """The demo's base image as Intel HEX: the MBR page, NRFFW[0] = 0xF4000, NRFFW[1] = the params page."""
    uicr = struct.pack("<II", GEN3_ADDR_BOOTLOADER, mbr_params_page)
    return to_hex([FlashImage(0, demo_mbr(), "MBR"), FlashImage(UICR_NRFFW0, uicr, "UICR.NRFFW")])
