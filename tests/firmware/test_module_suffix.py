"""Issue 10, item 18: a suffix size that disagrees with the file or its extensions is refused.

Particle's parser (binary-version-reader ``_readSuffix``) walks the extensions of a suffix larger
than 40 bytes, starting ``suffix_size`` bytes before the CRC, and throws on a zero-length one; the
same size field tells Device OS where the SHA-256 and product fields are. Every file here has a
correct CRC (an intact file, not a corrupt one: those parse with ``crc_ok=False``), so only the
layout is wrong.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.domain import ModuleFlags, ModuleFunction
from station.errors import FirmwareError
from station.firmware.build import filler
from station.firmware.module import PREFIX_SIZE, crc32_be, parse_module

START = 0xD4000
END_EXT = struct.pack("<HH", 0x0000, 4)
PRODUCT_EXT = struct.pack("<HHHHH", 0x0001, 10, 0, 13, 7)  # type, length, reserved, product id, version


def module(extensions: bytes = PRODUCT_EXT + END_EXT, *, size: int | None = None, flags: int = 0,
           prefix_ext: bytes = b"") -> bytes:
    """A user part whose suffix is ``extensions`` + the 36-byte base, with the size field ``size``."""
    body = prefix_ext + filler("user", 2000)
    total = PREFIX_SIZE + len(body) + len(extensions) + 36 + 4
    prefix = struct.pack("<IIBBHHBBBBHBBH", START, START + total - 4, 0, flags, 6, 13,
                         int(ModuleFunction.USER_PART), 2, 4, 1, 6200, 0, 0, 0)
    out = bytearray(prefix + body + extensions + struct.pack("<H", 0))
    out += hashlib.sha256(bytes(out)).digest()
    out += struct.pack("<H", len(extensions) + 36 if size is None else size)
    out += crc32_be(bytes(out))
    assert len(out) == total
    return bytes(out)


def test_a_well_formed_extension_suffix_parses() -> None:
    data = module()
    info = parse_module(data)
    assert info.crc_ok and info.suffix_size == 50
    assert info.sha256 == hashlib.sha256(data[:-38]).hexdigest()


def test_the_short_and_product_suffixes_still_parse() -> None:
    assert parse_module(module(b"", size=36)).suffix_size == 36
    info = parse_module(module(struct.pack("<HH", 13, 7), size=40))
    assert (info.suffix_size, info.product_id, info.product_version) == (40, 13, 7)


CASES = {
    "size-2-too-big": dict(size=52),  # the walk starts in the body
    "size-2-too-small": dict(size=48),  # the walk starts inside the product extension
    "size-much-too-big": dict(size=0x7000),  # past the start of the file
    "size-erased": dict(size=0xFFFF),
    "size-below-base": dict(size=20),
    "zero-length-extension": dict(extensions=struct.pack("<HH", 0x0011, 0) + bytes(6) + END_EXT),
    "sub-header-length": dict(extensions=struct.pack("<HH", 0x0011, 2) + bytes(8) + END_EXT),
    "runs-into-the-base": dict(extensions=struct.pack("<HH", 0x0011, 30) + bytes(6) + END_EXT),
    "end-before-the-span-ends": dict(extensions=END_EXT + PRODUCT_EXT),
    "invalid-type": dict(extensions=struct.pack("<HH", 0xFFFF, 10) + bytes(6) + END_EXT),
    "prefix-extensions-without-end": dict(flags=int(ModuleFlags.PREFIX_EXTENSIONS),
                                          prefix_ext=struct.pack("<HH", 0x0011, 8) + b"name"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_layout_particles_parser_refuses_is_refused_with_one_line(case: str) -> None:
    data = module(**CASES[case])  # type: ignore[arg-type]
    with pytest.raises(FirmwareError) as exc:
        parse_module(data)
    assert "\n" not in str(exc.value) and "not a valid Particle module" in str(exc.value)


def test_prefix_extensions_ending_with_end_parse() -> None:
    ext = struct.pack("<HH", 0x0011, 8) + b"name" + END_EXT
    info = parse_module(module(flags=int(ModuleFlags.PREFIX_EXTENSIONS), prefix_ext=ext))
    assert info.crc_ok and info.flags & ModuleFlags.PREFIX_EXTENSIONS


def test_a_corrupt_file_is_still_reported_as_corrupt_not_refused() -> None:
    bad = bytearray(module(size=52))
    bad[-1] ^= 0x01  # the CRC no longer matches: the operator is told which module is corrupt
    assert parse_module(bytes(bad)).crc_ok is False


@settings(max_examples=300, deadline=None)
@given(extensions=st.binary(max_size=64), size=st.integers(0, 0xFFFF))
def test_any_intact_suffix_is_refused_or_tiles_exactly(extensions: bytes, size: int) -> None:
    """Parsed means: the size fits the file and, past 40 bytes, whole extensions tile it up to the base."""
    data = module(extensions, size=size)
    try:
        info = parse_module(data)
    except FirmwareError as exc:
        assert "\n" not in str(exc)
        return
    n = len(data)
    assert 36 <= info.suffix_size <= n - 4 - PREFIX_SIZE
    if info.suffix_size > 40:
        idx, base = n - 4 - info.suffix_size, n - 4 - 36
        while idx < base:
            ext_type, length = struct.unpack_from("<HH", data, idx)
            assert length >= 4 and idx + length <= base and ext_type != 0xFFFF
            idx += length
            if ext_type == 0:
                break
        assert idx == base
