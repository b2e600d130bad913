"""What is attached to the station right now: probes, USB devices (both modes), Particle serial ports."""

from __future__ import annotations

from typing import Any

from station.domain import PARTICLE_VID
from station.errors import DeviceError


def attached(*, identify: bool) -> list[dict[str, Any]]:
    """Probes, USB devices (both modes) and serial ports; one failing source never hides the others."""
    rows: list[dict[str, Any]] = []
    from station.hw.swd import PyocdSwdLink, list_probes

    try:
        probes = list_probes()
    except DeviceError as exc:
        rows.append({"kind": "probe", "id": None, "error": str(exc)})
        probes = []
    for p in probes:
        row: dict[str, Any] = {"kind": "probe", "id": p.unique_id, "product": p.product, "board": p.board,
                               "mode": None, "device_id": None, "error": None}
        if identify:
            try:
                with PyocdSwdLink(p.unique_id) as link:
                    row["locked"] = link.is_locked()
                    if not link.is_locked():
                        row["device_id"] = link.read_device_id()
            except DeviceError as exc:
                row["error"] = str(exc)
        rows.append(row)

    from station.hw.usb import list_usb_devices

    try:
        usb = list_usb_devices()
    except DeviceError as exc:
        rows.append({"kind": "usb", "id": None, "error": str(exc)})
        usb = []
    for u in usb:
        rows.append({"kind": "usb", "id": f"{u.bus}:{u.address}", "product": f"{u.vid:04x}:{u.pid:04x}",
                     "platform_id": u.platform_id, "mode": u.mode, "device_id": u.device_id, "error": u.error})

    from station.hw.backend import list_serial_ports

    for port in list_serial_ports():
        if getattr(port, "vid", None) != PARTICLE_VID:
            continue
        rows.append({"kind": "serial", "id": port.device, "product": f"{port.vid:04x}:{port.pid:04x}",
                     "mode": "normal", "device_id": port.serial_number, "error": None})
    return rows
