"""Intel HEX and raw binaries: the other ways firmware arrives."""

from __future__ import annotations

import pytest

from station.domain import FlashImage
from station.errors import FirmwareError
from station.firmware.images import hex_segments, load_firmware, to_hex
from station.firmware.module import parse_module


def test_intel_hex_round_trip_keeps_module_and_address(demo: dict[str, bytes]) -> None:
    data = demo["user-product"]
    info = parse_module(data)
    text = to_hex([FlashImage(info.start, data)])
    assert text.startswith(b":")
    loaded = load_firmware(text)
    assert loaded.kind == "hex"
    assert [(i.address, i.data) for i in loaded.images] == [(info.start, data)]
    assert loaded.info == info


def test_hex_with_several_segments_keeps_each() -> None:
    a, b = FlashImage(0x1000, b"\x01\x02\x03\x04"), FlashImage(0x8000, b"\xaa" * 300)
    segs = hex_segments(to_hex([a, b]))
    assert [(s.address, s.data) for s in segs] == [(0x1000, a.data), (0x8000, b.data)]
    assert load_firmware(to_hex([a, b])).info is None


def test_broken_hex_is_a_firmware_error() -> None:
    with pytest.raises(FirmwareError, match="Intel HEX"):
        load_firmware(b":10000000DEADBEEF\n")


def test_raw_binary_needs_an_address() -> None:
    raw = bytes(range(256)) * 8
    with pytest.raises(FirmwareError, match="address"):
        load_firmware(raw)
    loaded = load_firmware(raw, address=0xB4000)
    assert loaded.kind == "bin" and loaded.info is None
    assert loaded.images == (FlashImage(0xB4000, raw, "raw 0xB4000"),)


def test_module_given_the_wrong_address_is_refused(demo: dict[str, bytes]) -> None:
    with pytest.raises(FirmwareError, match="belongs at 0x28000"):
        load_firmware(demo["system-part1"], address=0x30000)
    assert load_firmware(demo["system-part1"], address=0x28000).kind == "module"
