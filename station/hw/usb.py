"""Particle devices on USB: listing them and finding one by device ID.

Devices are always found by device ID (the iSerial string), never by bus position or order:
after a reset or a mode switch a device comes back with a new address, and with several devices
on one hub order means nothing. A device that cannot be read (busy in another program, still
enumerating) is still listed, with ``error`` set, so one bad device never hides the others
(particle-cli once failed ``usb list`` entirely for that reason).

Control requests to a device in normal mode are :mod:`station.hw.usb_control`'s business;
:func:`open_control` is kept here as the one entry point callers know.
"""

from __future__ import annotations

import errno
import time
from typing import Any

import usb.core
import usb.util

from station.domain import (
    PARTICLE_VID,
    is_device_id,
    normalize_device_id,
    platform_from_usb_pid,
)
from station.errors import ConfigError, DeviceGone, DeviceTimeout, TransportError
from station.hw.backend import usb_backend
from station.hw.interfaces import UsbControl, UsbDeviceInfo

#: every USB transfer gets a timeout; a control request that takes longer means a hung device
DEFAULT_TIMEOUT_MS = 2000
LANGID_EN_US = 0x0409
_POLL_S = 0.05


def usb_error(exc: Exception, device_id: str, what: str) -> Exception:
    """Translate a pyusb exception into the station's error for ``what`` on ``device_id``."""
    if isinstance(exc, usb.core.USBTimeoutError):
        return DeviceTimeout(f"{device_id}: USB timeout during {what}")
    if isinstance(exc, usb.core.USBError) and exc.errno == errno.ENODEV:
        return DeviceGone(f"{device_id}: device disappeared from USB during {what}")
    if isinstance(exc, usb.core.NoBackendError):
        return ConfigError("no USB backend available: install libusb-1.0")
    return TransportError(f"{device_id}: USB error during {what}: {exc}")


def _find_all() -> list[Any]:
    try:
        return list(usb.core.find(find_all=True, idVendor=PARTICLE_VID, backend=usb_backend()))
    except usb.core.NoBackendError as exc:
        raise ConfigError("no USB backend available: install libusb-1.0") from exc


def _describe(dev: Any) -> UsbDeviceInfo | None:
    known = platform_from_usb_pid(int(dev.idProduct))
    if known is None:
        return None
    platform, mode = known
    common: dict[str, Any] = dict(
        platform_id=platform.id, mode=mode, vid=int(dev.idVendor), pid=int(dev.idProduct), bus=dev.bus,
        address=dev.address,
    )  # fmt: skip
    try:
        # ask en-US directly: pyusb's langid lookup hides the real error (busy, stalled) behind ValueError
        serial = usb.util.get_string(dev, dev.iSerialNumber, LANGID_EN_US) or ""
    except (usb.core.USBError, ValueError, NotImplementedError) as exc:
        return UsbDeviceInfo(device_id="", error=f"cannot read serial number: {exc}", **common)
    finally:
        usb.util.dispose_resources(dev)
    serial = serial.strip().lower()
    if not is_device_id(serial):
        return UsbDeviceInfo(device_id=serial, error="serial number is not a device ID", **common)
    return UsbDeviceInfo(device_id=serial, **common)


def list_usb_devices() -> list[UsbDeviceInfo]:
    """Every Particle device on USB in normal or DFU mode, unreadable ones included with ``error``."""
    out = []
    for dev in _find_all():
        info = _describe(dev)
        if info is not None:
            out.append(info)
    return out


def find_device(device_id: str, mode: str | None = None) -> tuple[Any, UsbDeviceInfo] | None:
    """The pyusb device whose iSerial is ``device_id`` (in ``mode`` if given), or ``None``."""
    did = normalize_device_id(device_id)
    for dev in _find_all():
        info = _describe(dev)
        if info is not None and info.device_id == did and (mode is None or info.mode == mode):
            return dev, info
    return None


def wait_for_device(device_id: str, mode: str | None, timeout: float) -> tuple[Any, UsbDeviceInfo]:
    """Poll the bus until ``device_id`` enumerates (in ``mode``); ``DeviceTimeout`` if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        found = find_device(device_id, mode)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            where = f" in {mode} mode" if mode else ""
            raise DeviceTimeout(f"{device_id}: did not appear on USB{where} within {timeout:.1f} s")
        time.sleep(_POLL_S)


def open_control(device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> UsbControl:
    """A control link to ``device_id`` in normal mode (:class:`station.hw.usb_control.UsbControlLink`)."""
    from station.hw.usb_control import UsbControlLink  # it builds on this module

    return UsbControlLink(device_id, timeout_ms=timeout_ms)
