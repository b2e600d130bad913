"""Module parsing: prefix offsets, suffix variants, CRC, and refusing garbage with one line."""

from __future__ import annotations

import pytest

from station.domain import ModuleFlags, ModuleFunction
from station.errors import FirmwareError
from station.firmware.build import build_module, filler, vector_table
from station.firmware.module import PREFIX_SIZE, module_flash_image, parse_module

INSPECT_KEYS = {
    "platform_id", "function", "index", "version", "start", "end", "flags", "deps",
    "product_id", "product_version", "crc_ok", "sha256", "suffix_size", "prefix_offset",
}


def _module(prefix_offset: int, head: bytes | None = None, **kw: object) -> bytes:
    args: dict = dict(
        function=ModuleFunction.SYSTEM_PART, index=1, version=5900, platform_id=13, start=0x28000,
        body=filler("t", 4000), deps=[(ModuleFunction.BOOTLOADER, 0, 2300)],
        prefix_offset=prefix_offset, head=head, product_id=13, product_version=7,
    )
    args.update(kw)
    return build_module(**args)


@pytest.mark.parametrize(
    "offset,head",
    [
        (0, None),
        (0x20, None),  # P2 bootloader layout: found by the 4-byte scan, not the preferred list
        (0x20, filler("p2-head", 0x20)),
        (0x200, vector_table(0x20040000, 0x28000)),  # Gen3 system part / bootloader
        (0x200, None),
    ],
)
def test_prefix_found_at_every_offset(offset: int, head: bytes | None) -> None:
    data = _module(offset, head)
    info = parse_module(data)
    assert info.prefix_offset == offset
    assert (info.function, info.index, info.version, info.platform_id) == (ModuleFunction.SYSTEM_PART, 1, 5900, 13)
    assert info.start == 0x28000 and info.end == 0x28000 + len(data) - 4
    assert info.crc_ok
    assert info.deps[0].function == ModuleFunction.BOOTLOADER and info.deps[0].version == 2300
    assert info.deps[1].function == ModuleFunction.NONE
    assert (info.product_id, info.product_version, info.suffix_size) == (13, 7, 40)
    # the embedded SHA-256 is the suffix's, not the file's
    assert info.sha256 == data[-38:-6].hex() and info.sha256 != info.file_sha256


def test_short_suffix_has_no_product_fields() -> None:
    info = parse_module(_module(0, product_id=None, product_version=None))
    assert info.suffix_size == 36
    assert info.product_id is None and info.product_version is None


def test_any_flipped_byte_breaks_the_crc() -> None:
    data = bytearray(_module(0x200))
    for pos in (0, 0x200 + 10, len(data) // 2, len(data) - 5):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        assert parse_module(bytes(bad)).crc_ok is False, pos


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff" * 100, bytes(5000), filler("garbage", 3000), b"hello world\n" * 50],
    ids=["empty", "short-ff", "zeros", "random", "text"],
)
def test_garbage_is_refused_with_one_line(data: bytes) -> None:
    with pytest.raises(FirmwareError) as exc:
        parse_module(data)
    msg = str(exc.value)
    assert "\n" not in msg and "not a Particle module" in msg


def test_truncated_module_is_refused() -> None:
    data = _module(0)
    with pytest.raises(FirmwareError):
        parse_module(data[: len(data) // 3])


def test_to_json_has_exactly_the_inspect_keys() -> None:
    info = parse_module(_module(0x200))
    obj = info.to_json()
    assert set(obj) == INSPECT_KEYS
    assert obj["deps"] == [[2, 0, 2300], [0, 0, 0]]
    assert all(isinstance(obj[k], int) for k in ("start", "end", "flags", "version", "platform_id"))


def test_drop_module_info_writes_body_at_start_address() -> None:
    data = _module(0, function=ModuleFunction.RADIO_STACK, index=0, version=202, start=0x1000,
                   flags=ModuleFlags.DROP_MODULE_INFO, product_id=None, product_version=None, deps=[])
    info = parse_module(data)
    img = module_flash_image(data, info)
    assert img.address == 0x1000
    assert img.data == data[PREFIX_SIZE:]


def test_normal_module_is_written_whole_at_its_start() -> None:
    data = _module(0x200, vector_table(0x20040000, 0x28000))
    img = module_flash_image(data, parse_module(data), "sp1")
    assert (img.address, img.data, img.label) == (0x28000, data, "sp1")


def test_compressed_module_cannot_be_flashed_directly() -> None:
    data = _module(0, flags=ModuleFlags.COMPRESSED)
    with pytest.raises(FirmwareError, match="compressed"):
        module_flash_image(data, parse_module(data))
