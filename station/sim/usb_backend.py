"""A pyusb backend on which every plugged twin is a USB device, so real pyusb code runs unchanged.

``usb.core.find(backend=SimUsbBackend(bench))`` lists each powered twin whose firmware runs USB:
``dfu`` run state enumerates in DFU mode (PID 0xD000|platform), ``running``/``listening``/
``safe_mode`` in normal mode (PID 0xC000|platform); ``off``, ``halted``, ``reset`` and ``debug``
do not enumerate (a stopped CPU runs no USB stack). Each enumeration is tied to the twin's state
``generation``: once the device resets, unplugs or switches mode, handles from the previous
enumeration fail with ``USBError`` errno ENODEV, exactly like libusb's LIBUSB_ERROR_NO_DEVICE.

A device can be held by another program (:func:`hold_exclusive`): opening it then fails with
EBUSY, which is how a busy or half-enumerated device looks to a host.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import usb.backend
from usb.core import USBError

from station.sim.bench import Bench, default_bench
from station.sim.control import ControlFunction
from station.sim.device import State, Twin
from station.sim.dfu import DfuSeFunction, Stall, Vanished
from station.sim.usb_descriptors import UsbFace, build_face

USB_RUN_STATES = {"dfu": "dfu", "running": "normal", "listening": "normal", "safe_mode": "normal"}
HOLD_FILE = "usb.held"

# libusb error codes, kept in USBError.backend_error_code like pyusb's libusb1 backend does
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_PIPE = -9

_GET_STATUS, _GET_DESCRIPTOR, _GET_CONFIGURATION = 0x00, 0x06, 0x08
_SET_CONFIGURATION, _SET_INTERFACE = 0x09, 0x0B


def usb_mode(state: State) -> str | None:
    """How a twin in ``state`` enumerates: ``"normal"``, ``"dfu"`` or ``None`` (not on the bus)."""
    if not state.plugged:
        return None
    return USB_RUN_STATES.get(state.run_state)


@contextlib.contextmanager
def hold_exclusive(twin: Twin) -> Iterator[None]:
    """Another program holds the twin's USB device open: hosts can list it but not open it."""
    path = twin.path / HOLD_FILE
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class SimDevice:
    """The backend's identification of one enumeration of one twin."""

    twin: Twin
    mode: str
    generation: int
    face: UsbFace


@dataclass
class _Handle:
    dev: SimDevice
    claimed: set[int] = field(default_factory=set)


def _no_device() -> USBError:
    return USBError("No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV)


def _pipe(why: str) -> USBError:
    return USBError(f"Pipe error ({why})", LIBUSB_ERROR_PIPE, errno.EPIPE)


class SimUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb backend over a bench (``None``: the default bench at each enumeration)."""

    def __init__(self, bench: Bench | None = None) -> None:
        super().__init__()
        self._bench = bench
        self._lock = threading.Lock()
        self._functions: dict[tuple[str, int], Any] = {}

    # ------------------------------------------------------------------ enumeration
    def _twins(self) -> list[Twin]:
        bench = self._bench or default_bench()
        return bench.twins() if bench is not None else []

    def enumerate_devices(self) -> Iterator[SimDevice]:
        for twin in self._twins():
            st = twin.state
            mode = usb_mode(st)
            if mode is None:
                continue
            address = 1 + (zlib.crc32(twin.name.encode()) + st.generation) % 126
            face = build_face(mode, twin.reported_platform, twin.device_id, bus=1, address=address)
            yield SimDevice(twin, mode, st.generation, face)

    def get_parent(self, dev: SimDevice) -> None:
        return None

    def get_device_descriptor(self, dev: SimDevice) -> Any:
        return dev.face.device

    def get_configuration_descriptor(self, dev: SimDevice, config: int) -> Any:
        if config != 0:
            raise IndexError(config)
        return dev.face.config

    def get_interface_descriptor(self, dev: SimDevice, intf: int, alt: int, config: int) -> Any:
        alts = self.get_configuration_descriptor(dev, config).interfaces[intf]
        return alts[alt]

    def get_endpoint_descriptor(self, dev: SimDevice, ep: int, intf: int, alt: int, config: int) -> Any:
        return self.get_interface_descriptor(dev, intf, alt, config).endpoints[ep]

    # ------------------------------------------------------------------ handles
    def _alive(self, dev: SimDevice) -> None:
        st = dev.twin.state
        if st.generation != dev.generation or usb_mode(st) != dev.mode:
            raise _no_device()

    def open_device(self, dev: SimDevice) -> _Handle:
        self._alive(dev)
        if (dev.twin.path / HOLD_FILE).exists():
            raise USBError("Resource busy (held by another program)", LIBUSB_ERROR_BUSY, errno.EBUSY)
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._alive(dev_handle.dev)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._alive(dev_handle.dev)
        return 1

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle.dev)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.claimed.discard(intf)

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        dev = dev_handle.dev
        self._alive(dev)
        if dev.mode == "dfu":
            try:
                self._function(dev).set_alt(altsetting)
            except Stall as exc:
                raise _pipe(str(exc)) from exc

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        return None

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        return None

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._alive(dev_handle.dev)

    def reset_device(self, dev_handle: _Handle) -> None:
        dev = dev_handle.dev
        self._alive(dev)
        self._reset(dev.twin, "usb-reset")

    # ------------------------------------------------------------------ control transfers
    def _function(self, dev: SimDevice) -> Any:
        key = (str(dev.twin.path), dev.generation)
        with self._lock:
            fn = self._functions.get(key)
            if fn is None:
                # forget functions of earlier enumerations of this twin
                for old in [k for k in self._functions if k[0] == key[0]]:
                    del self._functions[old]
                fn = DfuSeFunction(dev.twin) if dev.mode == "dfu" else ControlFunction(dev.twin)
                self._functions[key] = fn
            return fn

    def ctrl_transfer(
        self, dev_handle: _Handle, bmRequestType: int, bRequest: int, wValue: int, wIndex: int, data: array, timeout: int
    ) -> int:
        dev = dev_handle.dev
        twin = dev.twin
        size = len(data) * data.itemsize
        with twin.lock:
            self._alive(dev)
            direction_in = bool(bmRequestType & 0x80)
            kind = (bmRequestType >> 5) & 3
            try:
                if kind == 0:
                    reply = self._standard(dev, bRequest, wValue, wIndex, direction_in)
                else:
                    reply = self._class_or_vendor(dev, kind, bRequest, wValue, wIndex, data, size, direction_in)
            except Stall as exc:
                raise _pipe(str(exc)) from exc
            except Vanished as exc:
                raise _no_device() from exc
            if direction_in:
                n = min(size, len(reply))
                data[:n] = array("B", reply[:n]) if data.itemsize == 1 else data[:n]
                result = n
            else:
                result = size
            # charged after the request: work the device did while the host honoured bwPollTimeout
            # is charged first (in the DFU function), so the wait is not counted twice
            twin.clock.usb_transfer(size)
            self._after(dev)
        return result

    def _standard(self, dev: SimDevice, request: int, value: int, index: int, direction_in: bool) -> bytes:
        face = dev.face
        if request == _GET_DESCRIPTOR and direction_in:
            dtype, dindex = value >> 8, value & 0xFF
            if dtype == 1:
                return face.device.to_bytes()
            if dtype == 2:
                return face.config.to_bytes()
            if dtype == 3 and (dindex == 0 or dindex in face.strings):
                return face.string_descriptor(dindex)
            raise Stall(f"no descriptor {dtype}/{dindex}")
        if request == _GET_STATUS:
            return b"\x00\x00"
        if request == _GET_CONFIGURATION:
            return b"\x01"
        if request == _SET_CONFIGURATION:
            return b""
        if request == _SET_INTERFACE:
            if dev.mode == "dfu":
                self._function(dev).set_alt(value)
            return b""
        raise Stall(f"standard request {request:#x}")

    def _class_or_vendor(
        self, dev: SimDevice, kind: int, request: int, value: int, index: int, data: array, size: int, direction_in: bool
    ) -> bytes:
        fn = self._function(dev)
        if kind == 1 and isinstance(fn, DfuSeFunction):
            if direction_in:
                return fn.control_in(request, value, size)
            fn.control_out(request, value, bytes(data))
            return b""
        if kind == 2 and isinstance(fn, ControlFunction):
            if direction_in:
                return fn.control_in(request, index, value, size)
            fn.control_out(request, index, value, bytes(data))
            return b""
        raise Stall(f"request type {kind} not handled in {dev.mode} mode")

    def _after(self, dev: SimDevice) -> None:
        """Resets a request asked for happen after its reply went out, as on the device."""
        fn = self._functions.get((str(dev.twin.path), dev.generation))
        if isinstance(fn, DfuSeFunction) and fn.reset_requested:
            fn.reset_requested = False
            self._reset(dev.twin, "dfu-leave")
        elif isinstance(fn, ControlFunction):
            fn.after_transfer()  # a finished request's completion handler may reset the device

    def _reset(self, twin: Twin, cause: str) -> None:
        from station.sim.boot import boot_device

        boot_device(twin, cause=cause)

    # ------------------------------------------------------------------ no bulk endpoints used
    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array, timeout: int) -> int:
        raise _pipe("the twin's CDC data is served on its pty, not over the USB backend")

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array, timeout: int) -> int:
        raise _pipe("the twin's CDC data is served on its pty, not over the USB backend")
