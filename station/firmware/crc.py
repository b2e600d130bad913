"""CRC-32 of a flash range from CRCs the target computes itself, so the bytes need not cross the probe.

pyocd's flash analyzer (``pyocd/flash/flash.py``, ``Flash.compute_crcs``) runs on the target and
returns the CRC-32 (the zlib/IEEE polynomial) of blocks whose size is a power of two and whose
address is a multiple of it. A module's CRC covers an arbitrary range, so :func:`region_crc`
splits the range into such blocks, reads only the unaligned head and tail over the probe, and
chains the pieces with the CRC's linearity (zlib's ``crc32_combine``: appending ``n`` bytes to a
message multiplies its CRC by a fixed GF(2) matrix). The matrices are kept per power of two, so
chaining a block costs one 32×32 bit-matrix product.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from functools import cache

#: a block the target checksums: (address, size), size a power of two, address a multiple of it
Block = tuple[int, int]
BlockCrcs = Callable[[Sequence[Block]], Sequence[int]]
ReadFn = Callable[[int, int], bytes]

_POLY = 0xEDB88320  # reflected CRC-32 polynomial (zlib)


def _times(matrix: tuple[int, ...], vector: int) -> int:
    out = 0
    i = 0
    while vector:
        if vector & 1:
            out ^= matrix[i]
        vector >>= 1
        i += 1
    return out


def _square(matrix: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_times(matrix, matrix[n]) for n in range(32))


@cache
def _zeros_operator(log2_bytes: int) -> tuple[int, ...]:
    """The matrix that advances a CRC register over 2**log2_bytes zero bytes."""
    if log2_bytes == 0:
        one_bit = (_POLY, *(1 << n for n in range(31)))
        m = one_bit
        for _ in range(3):  # 1 → 2 → 4 → 8 zero bits
            m = _square(m)
        return m
    return _square(_zeros_operator(log2_bytes - 1))


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A + B from crc(A), crc(B) and len(B) (zlib's crc32_combine)."""
    k = 0
    while len2:
        if len2 & 1:
            crc1 = _times(_zeros_operator(k), crc1)
        len2 >>= 1
        k += 1
    return (crc1 ^ crc2) & 0xFFFFFFFF


def aligned_blocks(start: int, end: int, min_block: int) -> tuple[int, list[Block], int]:
    """Split [start, end) into (head end, aligned power-of-two blocks >= min_block, tail start).

    Bytes in [start, head end) and [tail start, end) are left for the caller to read.
    """
    addr = start
    if addr % min_block:
        addr = min(end, addr + (min_block - addr % min_block))
    head_end = addr
    blocks: list[Block] = []
    while end - addr >= min_block:
        size = min_block
        while addr % (size * 2) == 0 and addr + size * 2 <= end:
            size *= 2
        blocks.append((addr, size))
        addr += size
    return head_end, blocks, addr


def region_crc(start: int, size: int, *, read: ReadFn, block_crcs: BlockCrcs, min_block: int = 1024) -> int:
    """CRC-32 of ``size`` bytes at ``start``: aligned blocks checksummed by the target, the rest read."""
    end = start + size
    head_end, blocks, tail_start = aligned_blocks(start, end, min_block)
    crc = zlib.crc32(read(start, head_end - start)) if head_end > start else 0
    if blocks:
        for (_, n), block_crc in zip(blocks, block_crcs(blocks), strict=True):
            crc = crc32_combine(crc, int(block_crc) & 0xFFFFFFFF, n)
    if end > tail_start:
        crc = zlib.crc32(read(tail_start, end - tail_start), crc)
    return crc & 0xFFFFFFFF
