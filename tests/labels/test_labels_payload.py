"""QR payload: what a keyboard-wedge scanner types, and reading it back."""

from __future__ import annotations

import pytest

from station.labels.payload import label_payload, parse_label_payload

DID = "e00fce68a1b2c3d4e5f60718"


def test_payload_forms() -> None:
    assert label_payload(DID) == DID
    assert label_payload(DID.upper(), "pbo123") == f"{DID};PBO123"


@pytest.mark.parametrize(
    ("scanned", "expected"),
    [
        (DID, (DID, None)),
        (f"{DID}\r\n", (DID, None)),
        (f"{DID.upper()};PBO123\r", (DID, "PBO123")),
        (f"  {DID};pbo123\n", (DID, "PBO123")),
        (f"{DID}ö PBO123".replace(" ", ""), (DID, "PBO123")),  # ';' typed on a German layout
        (f"{DID}:PBO123", (DID, "PBO123")),
    ],
)
def test_parse_tolerates_what_scanners_type(scanned: str, expected: tuple[str, str | None]) -> None:
    assert parse_label_payload(scanned) == expected


@pytest.mark.parametrize(
    "bad", ["", "hello", "e00fce68a1b2c3d4e5f6071", f"{DID}X", f"{DID};", f"{DID};PB-1", "g" * 24]
)
def test_parse_rejects_non_labels(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_label_payload(bad)


def test_round_trip() -> None:
    assert parse_label_payload(label_payload(DID, "PBOX2345ABCDEFG")) == (DID, "PBOX2345ABCDEFG")


def test_unprintable_serial_is_refused() -> None:
    with pytest.raises(ValueError, match="not alphanumeric"):
        label_payload(DID, "PB 12")
