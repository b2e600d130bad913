"""From what an operator typed or scanned to one device of the registry.

The CLI (``station device show``) and the window's scan field share this, so both accept the
same things: the station's QR label (device ID and serial number), a bare device ID, a unique
prefix of one (at least :data:`MIN_PREFIX` hex characters, as the README abbreviates IDs, with or
without a trailing ``…``), and Particle's serial sticker. A label whose serial number differs from
the registry's is reported as a mismatch: the label is on the wrong board.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from station.errors import ConfigError, LabelMismatch
from station.labels.scan import Scan, ScanKind, parse_scan
from station.store.records import DeviceRecord
from station.store.registry import Registry

#: the shortest device-ID prefix accepted: 8 hex characters are 32 bits, and the 8 that every
#: Gen3 ID shares (``e00fce68``) then lists the candidates instead of guessing
MIN_PREFIX = 8
#: candidates listed when a prefix is not unique
MAX_CANDIDATES = 10
_HEX_PREFIX = re.compile(r"^[0-9a-fA-F]+$")
_ELLIPSIS = ("…", "...")


@dataclass(frozen=True)
class Lookup:
    """A device found from a scan; ``mismatch`` says why its label does not fit the record."""

    record: DeviceRecord
    scan: Scan | None
    mismatch: str | None = None
    #: the label carries a serial the registry cannot confirm (no serial recorded for the device)
    unconfirmed: str | None = None

    def check(self) -> None:
        """Raise :class:`LabelMismatch` when the label is not this device's."""
        if self.mismatch:
            raise LabelMismatch(self.mismatch)


def serial_mismatch(scan: Scan, record: DeviceRecord) -> str | None:
    """Why ``scan`` (a label or sticker) does not belong to ``record``, or None when it fits."""
    if scan.serial_number is None or record.serial_number is None:
        return None
    if scan.serial_number.upper() == record.serial_number.upper():
        return None
    return (f"LABEL MISMATCH: the label says serial {scan.serial_number} but the registry records serial "
            f"{record.serial_number} for device {record.device_id}: the label is on the wrong board; "
            "set the board aside and reprint its label from the registry (station label)")


def _strip_ellipsis(text: str) -> str:
    t = text.strip()
    for mark in _ELLIPSIS:
        if t.endswith(mark):
            return t[: -len(mark)].strip()
    return t


def _one(ids: list[str], what: str) -> str:
    """The one ID found; ``what`` completes "no device in the registry has …"."""
    if not ids:
        raise ConfigError(f"no device in the registry has {what}")
    if len(ids) > 1:
        shown = ", ".join(ids[:MAX_CANDIDATES]) + (", …" if len(ids) > MAX_CANDIDATES else "")
        raise ConfigError(f"several devices have {what} ({shown}): type more of the ID, or scan its label")
    return ids[0]


def find_device(registry: Registry, text: str) -> Lookup:
    """The device ``text`` names; ConfigError (exit 2) when it names none, or several."""
    t = _strip_ellipsis(text)
    scan: Scan | None = None
    if _HEX_PREFIX.match(t) and MIN_PREFIX <= len(t) < 24:
        device_id = _one(registry.find_device_ids(prefix=t, limit=MAX_CANDIDATES + 1), f"an ID starting {t.lower()}")
    elif _HEX_PREFIX.match(t) and len(t) < MIN_PREFIX:
        raise ConfigError(f"{t!r} is too short to find a device: give at least {MIN_PREFIX} hex characters "
                          "of its ID, the whole ID, or scan its label")
    else:
        try:
            scan = parse_scan(t)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if scan.kind is ScanKind.PARTICLE_SERIAL:
            assert scan.serial_number is not None
            device_id = _one(registry.find_device_ids(serial=scan.serial_number, limit=MAX_CANDIDATES + 1),
                             f"serial number {scan.serial_number}")
        else:
            assert scan.device_id is not None
            device_id = scan.device_id
    record = registry.device_record(device_id)
    if record is None:
        raise ConfigError(f"device {device_id} is not in the registry")
    unconfirmed = None
    if scan is not None and scan.serial_number and record.serial_number is None:
        unconfirmed = (f"the label says serial {scan.serial_number}; the registry has no serial number for "
                       f"device {device_id} to check it against")
    return Lookup(record=record, scan=scan, mismatch=serial_mismatch(scan, record) if scan else None,
                  unconfirmed=unconfirmed)
