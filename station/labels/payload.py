"""What the QR code on a label holds, and reading it back from a scan.

Format: the bare device ID (24 lowercase hex) when the serial number is unknown, otherwise
``<device_id>;<serial_number>`` — one line, no spaces, so a keyboard-wedge scanner types it into
any text field followed by its Enter.

Reading is deliberately forgiving, because what arrives is what a scanner *typed*: trailing
CR/LF and spaces are dropped, case is ignored (Caps Lock, scanners set to upper case), and the
separator may be any single non-alphanumeric character (a US-layout scanner on a German
keyboard types ``ö`` for ``;``). The device ID is always the first 24 characters, which keeps the
parse unambiguous whatever the separator became.
"""

from __future__ import annotations

import re

from station.domain import normalize_device_id

SEPARATOR = ";"
_SERIAL_RE = re.compile(r"^[0-9A-Za-z]{1,32}$")


def label_payload(device_id: str, serial_number: str | None = None) -> str:
    """The QR text for one device."""
    did = normalize_device_id(device_id)
    if not serial_number:
        return did
    serial = serial_number.strip().upper()
    if not _SERIAL_RE.match(serial):
        raise ValueError(
            f"serial number {serial_number!r} is not alphanumeric; a scanner could not type it back"
        )
    return f"{did}{SEPARATOR}{serial}"


def parse_label_payload(text: str) -> tuple[str, str | None]:
    """``(device_id, serial_number or None)`` from a scanned label; ``ValueError`` if it is not one."""
    t = text.strip()
    if len(t) < 24:
        raise ValueError(f"not a station label: {text!r} is shorter than a device ID")
    device_id = normalize_device_id(t[:24])  # InvalidDeviceId (a ValueError) with the reason
    rest = t[24:]
    if not rest:
        return device_id, None
    if (rest[0].isascii() and rest[0].isalnum()) or len(rest) < 2:
        raise ValueError(f"not a station label: {text!r} (expected <device_id>;<serial_number>)")
    serial = rest[1:].strip().upper()
    if not _SERIAL_RE.match(serial):
        raise ValueError(f"not a station label: serial number {rest[1:]!r} is not alphanumeric")
    return device_id, serial
