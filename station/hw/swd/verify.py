"""Verify over SWD: on-target page CRCs where a page is whole, read-back where it is not.

Pages an image fills completely are checked by CRC-32 computed on the target by pyocd's flash
analyzer (four bytes per page cross the wire instead of 4 KB); the partial pages at an image's
ends are read back. A page whose CRC differs is read back too, so the error names the exact
address and both bytes, as a full read-back would.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

from station.domain import NRF_PAGE_SIZE, FlashImage
from station.errors import VERIFY_WINDOW, TransportError, VerifyError
from station.hw.interfaces import ProgressFn, no_progress
from station.hw.swd.session import call

ReadMemory = Callable[[int, int], bytes]
PageCrcs = Callable[[Sequence[int]], list[int]]


def flash_region(target: Any, target_name: str) -> Any:
    """The internal flash region at 0x0 of pyocd's memory map (it carries the flash algorithm)."""
    region = target.memory_map.get_region_for_address(0)
    if region is None or not region.is_flash or region.flash is None:
        raise TransportError(f"{target_name}: no internal flash region at 0x0")
    return region


def page_crcs(target: Any, target_name: str, pages: Sequence[int]) -> list[int]:
    """CRC-32 of whole flash pages, computed on the target by pyocd's analyzer (fast: no read-back)."""
    return block_crcs(target, target_name, [(a, NRF_PAGE_SIZE) for a in pages])


def block_crcs(target: Any, target_name: str, blocks: Sequence[tuple[int, int]]) -> list[int]:
    """CRC-32 of flash blocks (power-of-two size, aligned to it) computed on the target by pyocd's analyzer."""
    flash = flash_region(target, target_name).flash

    def run() -> list[int]:
        flash.init(flash.Operation.VERIFY)
        try:
            return [int(c) & 0xFFFFFFFF for c in flash.compute_crcs(list(blocks))]
        finally:
            flash.cleanup()

    return call("computing flash CRCs", run)


def verify_images(
    images: Sequence[FlashImage],
    crcs_of: PageCrcs,
    read_memory: ReadMemory,
    *,
    progress: ProgressFn = no_progress,
) -> None:
    """Check every byte the images put in flash; raise :class:`VerifyError` at the first difference."""
    total = sum(len(i.data) for i in images) or 1
    full: dict[int, tuple[FlashImage, bytes]] = {}
    partial: list[tuple[FlashImage, int, bytes]] = []  # image, address, expected bytes
    for img in images:
        addr = img.address
        while addr < img.end:
            page = addr & ~(NRF_PAGE_SIZE - 1)
            hi = min(page + NRF_PAGE_SIZE, img.end)
            want = img.data[addr - img.address : hi - img.address]
            if addr == page and hi == page + NRF_PAGE_SIZE:
                full[page] = (img, want)
            else:
                partial.append((img, addr, want))
            addr = hi
    done = 0
    if full:
        addrs = sorted(full)
        for page, crc in zip(addrs, crcs_of(addrs), strict=True):
            img, want = full[page]
            if crc != zlib.crc32(want) & 0xFFFFFFFF:
                compare(img, page, want, read_memory)
            done += NRF_PAGE_SIZE
        progress(done, total)
    for img, addr, want in partial:
        compare(img, addr, want, read_memory)
        done += len(want)
        progress(done, total)
    progress(total, total)


def compare(img: FlashImage, address: int, want: bytes, read_memory: ReadMemory) -> None:
    """Read ``want``'s bytes back from ``address``; name the first one that differs."""
    got = read_memory(address, len(want))
    if got != want:
        first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
        raise VerifyError(
            f"verify failed for {img.label or 'image'} at {address + first:#010x}: "
            f"read {got[first]:#04x}, wrote {want[first]:#04x}",
            address=address + first,
            expected=want[first : first + VERIFY_WINDOW],
            actual=got[first : first + VERIFY_WINDOW],
        )
