"""What a barcode scanner typed, whichever code the operator pointed it at.

Three codes reach a station's scanner:

* the station's own QR label (:mod:`station.labels.payload`): ``<device_id>;<serial>`` or the bare
  device ID;
* a device ID typed or scanned on its own;
* Particle's data-matrix serial sticker on the module: the serial number, a space, then the
  *mobile secret* (Particle docs, "Device identifiers → Data matrix sticker"; Gen2 modules carry
  only the serial number).

The mobile secret is a credential (it pairs a phone with the device). It is dropped here, at the
first place the text is understood: the result has no field for it and no error message repeats
the scanned text, so nothing downstream (a log, the registry, a screenshot) can ever hold it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from station.labels.payload import parse_label_payload

_HEX24 = re.compile(r"^[0-9a-fA-F]{24}")
#: Particle serial numbers are 15 upper-case alphanumerics (external-flash OTP); allow some slack.
#: Anything starting with 24 hex digits is a (damaged) device ID, never a serial.
_SERIAL = re.compile(r"^[0-9A-Za-z]{6,20}$")
_SECRET = re.compile(r"^[0-9A-Za-z]{1,64}$")


class ScanKind(enum.StrEnum):
    LABEL = "label"  # the station's QR: device ID and serial number
    DEVICE_ID = "device-id"  # a bare device ID (a station label without serial, or typed)
    PARTICLE_SERIAL = "particle-serial"  # Particle's module sticker: serial number only


@dataclass(frozen=True)
class Scan:
    """A recognised scan. It identifies a device by ID, by serial number, or both."""

    kind: ScanKind
    device_id: str | None = None
    serial_number: str | None = None

    @property
    def key(self) -> str:
        """What to look the device up by: its ID when the code carries one, else its serial."""
        return self.device_id or self.serial_number or ""


def parse_scan(text: str) -> Scan:
    """Classify a scan; ``ValueError`` (which never quotes the scanned text) when it is none of them."""
    t = text.strip()
    if _HEX24.match(t) and (len(t) == 24 or not (t[24].isascii() and t[24].isalnum())):
        device_id, serial = parse_label_payload(t)
        if serial is None:
            return Scan(ScanKind.DEVICE_ID, device_id=device_id)
        return Scan(ScanKind.LABEL, device_id=device_id, serial_number=serial)
    serial, sep, secret = t.partition(" ")
    if not _HEX24.match(serial) and _SERIAL.match(serial) and (not sep or _SECRET.match(secret.strip())):
        return Scan(ScanKind.PARTICLE_SERIAL, serial_number=serial.upper())
    raise ValueError(
        f"not a station label, device ID or Particle serial sticker ({len(t)} characters scanned)"
    )
