"""Assemble Particle module binaries: the inverse of :mod:`station.firmware.module`.

Used to generate the demo firmware set (real Device OS binaries cannot be downloaded here) and
by tests that need modules with a prefix at an unusual offset. The layout follows
``module_info.h``: optional vector table, 24-byte prefix, body, suffix, big-endian CRC-32.

Suffix layouts (read backwards from the CRC, as binary-version-reader does):

* 36 bytes (SoftDevice / NCP): ``reserved u16, sha256[32], size u16``
* 40 bytes (Gen3 system, bootloader, user): ``product_id u16, product_version u16`` before that.

The CRC covers every byte before it. The SHA-256 covers every byte before it for linker-built
modules (device-os ``build/module.mk``: ``sha256sum`` of the file less its last 38 bytes), but only
the payload for modules wrapped by ``build/create_module.py`` (the radio stack: ``sha256(binary)``):
``sha_over="body"``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from station.domain import ModuleFlags, ModuleFunction
from station.firmware.module import PREFIX_SIZE, crc32_be

Dep = tuple[ModuleFunction | int, int, int]
NO_DEP: Dep = (ModuleFunction.NONE, 0, 0)


def filler(seed: str, size: int) -> bytes:
    """Deterministic bytes that look like compiled code (not erased flash) for a seed.

    SHAKE-256 is in every Python and its output is fixed by the standard, so the same seed gives
    the same bytes on every machine and release: profiles can pin the result by SHA-256.
    """
    return hashlib.shake_256(seed.encode()).digest(size)


def vector_table(stack_top: int, start: int, size: int = 0x200) -> bytes:
    """A plausible Cortex-M vector table: initial SP, then Thumb handler addresses inside the module."""
    words = [stack_top]
    words += [(start + 0x400 + 8 * i) | 1 for i in range(size // 4 - 1)]
    return struct.pack(f"<{len(words)}I", *words)


def build_module(
    *,
    function: ModuleFunction,
    index: int,
    version: int,
    platform_id: int,
    start: int,
    body: bytes,
    deps: Sequence[Dep] = (),
    flags: ModuleFlags = ModuleFlags.NONE,
    prefix_offset: int = 0,
    head: bytes | None = None,
    product_id: int | None = None,
    product_version: int | None = None,
    mcu_target: int = 0,
    sha_over: str = "file",
) -> bytes:
    """Return the bytes of one module file.

    ``head`` fills the bytes before a non-zero ``prefix_offset`` (a vector table); without it they
    are zero. ``product_id``/``product_version`` None gives the short 36-byte suffix.
    """
    if len(deps) > 2:
        raise ValueError("a module prefix holds at most two dependencies")
    d1, d2 = (*deps, NO_DEP, NO_DEP)[:2]
    head = head if head is not None else bytes(prefix_offset)
    if len(head) != prefix_offset:
        raise ValueError(f"head is {len(head)} bytes, prefix offset is {prefix_offset}")
    short = product_id is None
    suffix_size = 36 if short else 40
    total = prefix_offset + PREFIX_SIZE + len(body) + suffix_size + 4
    end = start + total - 4
    prefix = struct.pack(
        "<IIBBHHBBBBHBBH",
        start,
        end,
        mcu_target,
        int(flags),
        version,
        platform_id,
        int(function),
        index,
        int(d1[0]),
        d1[1],
        d1[2],
        int(d2[0]),
        d2[1],
        d2[2],
    )
    out = bytearray(head + prefix + body)
    if not short:
        out += struct.pack("<HH", product_id or 0, product_version or 0)
    out += struct.pack("<H", 0)  # reserved
    out += hashlib.sha256(bytes(out) if sha_over == "file" else body).digest()
    out += struct.pack("<H", suffix_size)
    out += crc32_be(bytes(out))
    assert len(out) == total
    return bytes(out)
