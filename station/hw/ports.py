"""Serial-port discovery: which port belongs to which device, decided by USB serial number only.

Port names (``/dev/ttyACM3``, ``COM7``) are handed out in plug order and change on every
re-enumeration; the USB serial number of a Particle CDC port is its device ID. Matching on that,
and never on order, is what keeps a test result attached to the device that produced it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from station.domain import PARTICLE_VID, is_device_id, normalize_device_id
from station.errors import DeviceTimeout
from station.hw.backend import list_serial_ports

_POLL_S = 0.1


@dataclass(frozen=True)
class DevicePort:
    device_id: str
    port: str
    vid: int
    pid: int


def device_ports() -> list[DevicePort]:
    """Every serial port that belongs to a Particle device, with the device ID it belongs to."""
    out = []
    for p in list_serial_ports():
        serial = (getattr(p, "serial_number", None) or "").strip().lower()
        if getattr(p, "vid", None) != PARTICLE_VID or not is_device_id(serial):
            continue
        out.append(DevicePort(serial, str(p.device), int(p.vid), int(p.pid or 0)))
    return out


def find_port(device_id: str, timeout: float = 5.0) -> str:
    """The serial port of ``device_id``; waits up to ``timeout`` for it to appear."""
    did = normalize_device_id(device_id)
    deadline = time.monotonic() + timeout
    while True:
        for p in device_ports():
            if p.device_id == did:
                return p.port
        if time.monotonic() >= deadline:
            raise DeviceTimeout(f"{did}: no serial port appeared within {timeout:.1f} s")
        time.sleep(_POLL_S)
