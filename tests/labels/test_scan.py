"""Scans: the station's label, a bare device ID, Particle's serial sticker (whose secret is dropped)."""

from __future__ import annotations

import dataclasses

import pytest

from station.labels.payload import label_payload
from station.labels.scan import ScanKind, parse_scan

DID = "e00fce68a1b2c3d4e5f60718"
SECRET = "ABCDEFGHJKLMNPQ"


def test_station_label_gives_id_and_serial() -> None:
    s = parse_scan(label_payload(DID, "PBO123456789ABC") + "\r")
    assert (s.kind, s.device_id, s.serial_number) == (ScanKind.LABEL, DID, "PBO123456789ABC")
    assert s.key == DID


def test_bare_device_id_in_any_case() -> None:
    s = parse_scan(DID.upper())
    assert (s.kind, s.device_id, s.serial_number) == (ScanKind.DEVICE_ID, DID, None)


def test_particle_sticker_keeps_the_serial_and_drops_the_mobile_secret() -> None:
    s = parse_scan(f"P046AB1234XYZAB {SECRET}\n")
    assert (s.kind, s.device_id, s.serial_number) == (ScanKind.PARTICLE_SERIAL, None, "P046AB1234XYZAB")
    assert s.key == "P046AB1234XYZAB"
    # The secret is nowhere in the result: not in a field, not in its repr.
    assert SECRET not in repr(s)
    assert all(SECRET not in str(v) for v in dataclasses.asdict(s).values())


def test_gen2_sticker_is_the_serial_alone() -> None:
    assert parse_scan("e40kab123456789").serial_number == "E40KAB123456789"


@pytest.mark.parametrize("bad", ["", "hi", "P046AB1234XYZAB sec ret", "P046-AB1234 " + SECRET, f"{DID}X"])
def test_unrecognised_scans_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_scan(bad)
    assert not bad.strip() or bad.strip() not in str(exc.value)
    assert SECRET not in str(exc.value)
