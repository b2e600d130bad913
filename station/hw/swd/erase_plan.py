"""Gen3 erase planning: chip erase or sector erase, from what the image set covers and the device holds.

A chip erase (≈170 ms) beats erasing 200+ sectors one by one (85 ms each), but it also wipes
whatever the images do not cover. pyocd's flash builder can weigh the two (``chip_erase="auto"``)
but only by its own sector timings and only for data starting at the flash base; the station
decides here, from the nRF52840's published timings and from which pages really differ, and then
asks pyocd for the erase it chose.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

from station.domain import (
    GEN3_ADDR_BOOTLOADER,
    GEN3_ADDR_SYSTEM_PART1,
    GEN3_ADDR_USER_PART,
    NRF_FLASH_SIZE,
    NRF_PAGE_SIZE,
    FlashImage,
)
from station.hw.interfaces import EraseStrategy, FlashReport

#: nRF52840 product specification v1.7, §4.3.9: page erase, erase-all, and 1024 word writes
T_PAGE_ERASE = 85e-3
T_ERASE_ALL = 169e-3
T_PAGE_PROGRAM = 1024 * 41e-6
#: reading back the MBR page and the UICR before an erase-all (2 × 4 KB over SWD at ~4 MHz)
T_PAGE_READ_BACK = 0.02
BLANK_PAGE = b"\xff" * NRF_PAGE_SIZE

#: page_crcs(page addresses) -> CRC-32 of each whole page as the device holds it
PageCrcs = Callable[[Sequence[int]], list[int]]


def choose_erase(images: Sequence[FlashImage], erase: EraseStrategy) -> str:
    """``"chip"``, ``"sector"`` or ``"auto"`` (weigh the two on the device: :func:`cheaper_erase`).

    Chip erase is allowed only when the set rewrites everything a device needs: AUTO considers it
    only for a complete Gen3 set (bootloader, system part and user part), where nothing else in
    internal flash matters, and otherwise erases just the sectors the images touch.
    """
    if erase is EraseStrategy.CHIP:
        return "chip"
    if erase is EraseStrategy.SECTOR:
        return "sector"

    def covers(lo: int, hi: int) -> bool:
        return any(lo <= img.address < hi for img in images)

    complete = (
        covers(GEN3_ADDR_BOOTLOADER, NRF_FLASH_SIZE)
        and covers(GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_USER_PART)
        and covers(GEN3_ADDR_USER_PART, GEN3_ADDR_BOOTLOADER)
    )
    return "auto" if complete else "sector"


def expected_pages(images: Sequence[FlashImage]) -> dict[int, bytearray]:
    """Page address → the page as the images define it (uncovered bytes erased, 0xFF)."""
    pages: dict[int, bytearray] = {}
    for img in images:
        for page in range(img.address & ~(NRF_PAGE_SIZE - 1), img.end, NRF_PAGE_SIZE):
            buf = pages.setdefault(page, bytearray(BLANK_PAGE))
            lo, hi = max(page, img.address), min(page + NRF_PAGE_SIZE, img.end)
            buf[lo - page : hi - page] = img.data[lo - img.address : hi - img.address]
    return pages


def cheaper_erase(images: Sequence[FlashImage], page_crcs: PageCrcs, report: FlashReport) -> str:
    """Chip or sector erase, whichever the nRF52840's own timings make cheaper for this device.

    Sector path: every differing page costs a page erase (85 ms) and a page program
    (1024 words × 41 µs). Chip path: one ERASEALL (169 ms) and every non-blank page programmed.
    Which pages differ is learnt from on-target CRCs, so an identical re-flash stays a no-op
    and a blank or different device gets the erase-all a production programmer would use.
    The estimate and the differing page count go into ``report.details``.
    """
    pages = expected_pages(images)
    expected = {a: zlib.crc32(bytes(b)) & 0xFFFFFFFF for a, b in pages.items()}
    addrs = sorted(pages)
    actual = dict(zip(addrs, page_crcs(addrs), strict=True))
    differ = sum(1 for a in addrs if actual[a] != expected[a])
    nonblank = sum(1 for b in pages.values() if b != BLANK_PAGE)
    sector_s = differ * (T_PAGE_ERASE + T_PAGE_PROGRAM)
    chip_s = T_ERASE_ALL + T_PAGE_READ_BACK + nonblank * T_PAGE_PROGRAM
    report.details["erase_estimate_s"] = {"sector": round(sector_s, 3), "chip": round(chip_s, 3)}
    report.details["pages_differing"] = differ
    return "chip" if chip_s < sector_s else "sector"
