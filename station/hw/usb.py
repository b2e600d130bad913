"""Particle devices on USB: listing them, finding one by device ID, and its vendor control requests.

Devices are always found by device ID (the iSerial string), never by bus position or order:
after a reset or a mode switch a device comes back with a new address, and with several devices
on one hub order means nothing. A device that cannot be read (busy in another program, still
enumerating) is still listed, with ``error`` set, so one bad device never hides the others
(particle-cli once failed ``usb list`` entirely for that reason).

Control-request framing (particle-usb ``src/usb-protocol.js``): bmRequestType 0xC0/0x40,
bRequest 0x50, wIndex = request type. Reply payloads are documented in ``station.sim.control``:
ASCII device ID and version strings, one byte for setup-done, compact JSON for the module list.
"""

from __future__ import annotations

import errno
import json
import time
from typing import Any

import usb.core
import usb.util

from station.domain import PARTICLE_VID, is_device_id, normalize_device_id, platform_from_usb_pid
from station.errors import ConfigError, DeviceGone, DeviceTimeout, TransportError
from station.hw.backend import usb_backend
from station.hw.interfaces import ModuleStatus, UsbDeviceInfo

PARTICLE_BREQUEST = 0x50
REQ_DEVICE_ID = 20
REQ_SYSTEM_VERSION = 30
REQ_RESET = 40
REQ_DFU_MODE = 50
REQ_START_LISTENING = 70
REQ_SET_DEVICE_SETUP_DONE = 73
REQ_IS_DEVICE_SETUP_DONE = 74
REQ_GET_MODULE_INFO = 90

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


class UsbControlLink:
    """Vendor control requests to one device in normal mode (implements ``UsbControl``)."""

    def __init__(self, device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.device_id = normalize_device_id(device_id)
        self.timeout_ms = timeout_ms
        self._dev: Any = None

    def __enter__(self) -> UsbControlLink:
        found = find_device(self.device_id, "normal")
        if found is None:
            raise DeviceGone(f"{self.device_id}: not on USB in normal mode")
        self._dev = found[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._dev is not None:
            usb.util.dispose_resources(self._dev)
            self._dev = None

    # ------------------------------------------------------------------ transport
    def _in(self, req_type: int, length: int = 64, what: str = "") -> bytes:
        if self._dev is None:
            raise RuntimeError("UsbControlLink used outside its context")
        try:
            data = self._dev.ctrl_transfer(0xC0, PARTICLE_BREQUEST, 0, req_type, length, self.timeout_ms)
        except (usb.core.USBError, ValueError) as exc:
            raise usb_error(exc, self.device_id, what or f"request {req_type}") from exc
        return bytes(data)

    def _out(self, req_type: int, value: int = 0, what: str = "") -> None:
        if self._dev is None:
            raise RuntimeError("UsbControlLink used outside its context")
        try:
            self._dev.ctrl_transfer(0x40, PARTICLE_BREQUEST, value, req_type, b"", self.timeout_ms)
        except (usb.core.USBError, ValueError) as exc:
            raise usb_error(exc, self.device_id, what or f"request {req_type}") from exc

    # ------------------------------------------------------------------ requests
    def get_device_id(self) -> str:
        return self._in(REQ_DEVICE_ID, what="DEVICE_ID").decode("ascii", "replace").strip().lower()

    def get_system_version(self) -> str:
        return self._in(REQ_SYSTEM_VERSION, what="SYSTEM_VERSION").decode("ascii", "replace").strip()

    def get_module_info(self) -> list[ModuleStatus]:
        raw = self._in(REQ_GET_MODULE_INFO, 4096, what="GET_MODULE_INFO")
        try:
            items = json.loads(raw.decode())
            return [ModuleStatus(int(m["f"]), int(m["n"]), int(m["v"]), bool(m.get("ok", True))) for m in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"{self.device_id}: unreadable GET_MODULE_INFO reply {raw[:40]!r}") from exc

    def reset(self) -> None:
        self._out(REQ_RESET, what="RESET")

    def enter_dfu(self) -> None:
        self._out(REQ_DFU_MODE, what="DFU_MODE")

    def start_listening(self) -> None:
        self._out(REQ_START_LISTENING, what="START_LISTENING")

    def set_setup_done(self, done: bool = True) -> None:
        self._out(REQ_SET_DEVICE_SETUP_DONE, 1 if done else 0, what="SET_DEVICE_SETUP_DONE")

    def is_setup_done(self) -> bool:
        return self._in(REQ_IS_DEVICE_SETUP_DONE, 1, what="IS_DEVICE_SETUP_DONE")[:1] == b"\x01"


def open_control(device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> UsbControlLink:
    """A control link to ``device_id``; use it as a context manager (it opens on enter)."""
    return UsbControlLink(device_id, timeout_ms=timeout_ms)
