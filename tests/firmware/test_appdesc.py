"""App descriptor: round trip, absence, and damaged records read as unknown."""

from __future__ import annotations

import struct

from station.firmware.appdesc import MAGIC, AppDescriptor, read_app_descriptor


def test_round_trip_inside_other_bytes() -> None:
    d = AppDescriptor("factory-test", "MANUAL", "ft", "2.1.0")
    blob = b"\x00" * 100 + d.encode() + b"\xff" * 50
    got = read_app_descriptor(blob)
    assert got == d and not got.connects_to_cloud and got.is_factory_test
    assert AppDescriptor("product", "AUTOMATIC", "p", "1").connects_to_cloud


def test_no_descriptor_is_none() -> None:
    assert read_app_descriptor(b"\x12" * 1000) is None


def test_damaged_records_are_unknown() -> None:
    good = AppDescriptor("product", "AUTOMATIC", "p", "1").encode()
    assert read_app_descriptor(good[:-3]) is None  # truncated
    assert read_app_descriptor(MAGIC + struct.pack("<H", 5) + b"{nope") is None
    bad_app = b'{"app":"rootkit","system_mode":"MANUAL"}'
    assert read_app_descriptor(MAGIC + struct.pack("<H", len(bad_app)) + bad_app) is None
    assert read_app_descriptor(MAGIC + b"\x00") is None
