"""The MBR page and the UICR: what a chip erase destroys that a Device OS image set does not rewrite.

Two things on a Gen3 part are not in a Device OS module set: the MBR page at 0x0 (Nordic's master
boot record, which jumps to the bootloader) and the UICR (bootloader address, NFC pins, REGOUT0,
APPROTECT). The MBR page is added to the set as an image read from the device — which also lets
pyocd weigh a chip erase at all, since it only considers one when the data starts at the flash
base — and the UICR is read before and rewritten after a chip erase, word by word through pyocd's
own ``NRF52.write_uicr`` (NVMC write-enable, write, wait ready). External flash (DCT, device key)
is never touched: the debug port cannot reach it. Single UICR words a base image or a hardened
part needs are written with :func:`write_uicr_word`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from station.domain import NRF_PAGE_SIZE, NRF_UICR, NRF_UICR_SIZE, FlashImage
from station.errors import VERIFY_WINDOW, TransportError, VerifyError
from station.hw.interfaces import FlashReport
from station.hw.swd.session import call

#: read_memory(address, size) -> bytes, raising station errors
ReadMemory = Callable[[int, int], bytes]


def preserve_for_chip_erase(
    images: Sequence[FlashImage], read_memory: ReadMemory, report: FlashReport
) -> tuple[list[FlashImage], bytes]:
    """The image set with the device's MBR page added (unless the set has its own), and the UICR."""
    out = list(images)
    if not any(img.address < NRF_PAGE_SIZE for img in images):
        mbr = read_memory(0, NRF_PAGE_SIZE)
        out.insert(0, FlashImage(0, mbr, "MBR page (preserved)"))
    uicr = read_memory(NRF_UICR, NRF_UICR_SIZE)
    report.details["preserved"] = ["MBR page", "UICR"]
    return out, uicr


def restore_uicr(
    target: Any, target_name: str, uicr: bytes, read_memory: ReadMemory, report: FlashReport
) -> None:
    """Write back every programmed UICR word after a chip erase, then read them all back."""
    words = [
        (NRF_UICR + off, int.from_bytes(uicr[off : off + 4], "little"))
        for off in range(0, len(uicr), 4)
        if uicr[off : off + 4] != b"\xff\xff\xff\xff"
    ]
    write_uicr: Callable[[int, int], None] | None = getattr(target, "write_uicr", None)
    if write_uicr is None:
        if words:
            raise TransportError(f"{target_name}: cannot restore UICR after a chip erase")
        return
    for addr, value in words:
        call(f"restoring UICR word {addr:#010x}", functools.partial(write_uicr, addr, value))
    back = read_memory(NRF_UICR, len(uicr))
    if back != uicr:
        first = next(i for i, (a, b) in enumerate(zip(back, uicr, strict=True)) if a != b)
        raise VerifyError(
            "UICR differs from its value before the chip erase",
            address=NRF_UICR + first,
            expected=uicr[first : first + VERIFY_WINDOW],
            actual=back[first : first + VERIFY_WINDOW],
        )
    report.details["uicr_words_restored"] = len(words)


def write_uicr_word(target: Any, target_name: str, address: int, value: int, read32: Callable[[int], int]) -> None:
    """Program one UICR word through the NVMC (bits only go 1 to 0), then read it back.

    pyOCD's nRF52 target does the NVMC dance (CONFIG = WEN, write, wait READY, CONFIG = REN) and
    refuses a value the erased-or-current word cannot take without an erase.
    """
    write: Callable[[int, int], None] | None = getattr(target, "write_uicr", None)
    if write is None:
        raise TransportError(f"{target_name}: pyocd cannot write this target's UICR")
    call(f"writing UICR word {address:#010x}", functools.partial(write, address, value))
    back = read32(address)
    if back != value:
        raise VerifyError(
            f"UICR word {address:#010x} reads back 0x{back:08X} after writing 0x{value:08X}",
            address=address,
            expected=value.to_bytes(4, "little"),
            actual=back.to_bytes(4, "little"),
        )
