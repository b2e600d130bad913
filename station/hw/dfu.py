"""DfuSe client: program Particle devices in DFU mode over USB, found by device ID.

The memory layout comes from the device's alt-setting strings (``station.hw.dfu_layout``), so the
client erases exactly the sectors each image touches and refuses what the layout forbids before
touching anything. It never writes the DCT (alt 1, or the first 16 KB of external flash): the
device's private key lives there and a blank DCT makes the device generate a new key the cloud
does not know. The device would accept the write; refusing it is the station's job.

Every transfer has a timeout; ``bwPollTimeout`` from GETSTATUS is honoured (that is the device
telling the host how long its flash needs). A device that vanishes mid-transfer surfaces as
``DeviceGone`` naming the step and address; re-running :meth:`DfuSeTarget.program` after replug
starts over cleanly because the client keeps no state between calls.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from typing import Any

import usb.core
import usb.util

from station.domain import FlashImage, normalize_device_id
from station.errors import (
    VERIFY_WINDOW,
    DeviceGone,
    DeviceTimeout,
    FirmwareError,
    TransportError,
    VerifyError,
)
from station.hw.dfu_layout import MemoryLayout, parse_layout
from station.hw.interfaces import FlashReport, ProgressFn, no_progress
from station.hw.usb import DEFAULT_TIMEOUT_MS, find_device, open_control, usb_error, wait_for_device

DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = 1, 2, 3, 4, 5, 6
STATE_DNBUSY, STATE_DNLOAD_IDLE, STATE_MANIFEST, STATE_ERROR = 4, 5, 7, 10
STATUS_NAMES = {
    0x01: "errTARGET", 0x02: "errFILE", 0x03: "errWRITE", 0x04: "errERASE", 0x05: "errCHECK_ERASED",
    0x06: "errPROG", 0x07: "errVERIFY", 0x08: "errADDRESS", 0x09: "errNOTDONE", 0x0A: "errFIRMWARE",
    0x0B: "errVENDOR", 0x0C: "errUSBR", 0x0D: "errPOR", 0x0E: "errUNKNOWN", 0x0F: "errSTALLEDPKT",
}  # fmt: skip
ALT_INTERNAL, ALT_DCT, ALT_EXTERNAL = 0, 1, 2
EXT_FLASH_BASE = 0x80000000
#: external-flash bytes that hold the DCT (device key): never written by the station
DCT_EXT_SIZE = 0x4000
DEFAULT_TRANSFER_SIZE = 4096
#: upper bound for one erase/write to finish, whatever bwPollTimeout says
OPERATION_TIMEOUT_S = 10.0


class DfuSeTarget:
    """One device in DFU mode (implements ``DfuTarget``). Use as a context manager."""

    def __init__(self, device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.device_id = normalize_device_id(device_id)
        self.timeout_ms = timeout_ms
        self.transfer_size = DEFAULT_TRANSFER_SIZE
        self.layouts: dict[int, MemoryLayout] = {}
        self._dev: Any = None
        self._alt: int | None = None
        self._step = "open"

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DfuSeTarget:
        found = find_device(self.device_id, "dfu")
        if found is None:
            raise DeviceGone(f"{self.device_id}: not on USB in DFU mode")
        self._dev = found[0]
        try:
            for intf in self._dev[0]:
                if intf.bInterfaceClass != 0xFE or intf.bInterfaceSubClass != 0x01:
                    continue
                text = usb.util.get_string(self._dev, intf.iInterface) or ""
                self.layouts[int(intf.bAlternateSetting)] = parse_layout(text)
                extra = bytes(intf.extra_descriptors)
                if len(extra) >= 7 and extra[1] == 0x21:
                    self.transfer_size = struct.unpack_from("<H", extra, 5)[0] or DEFAULT_TRANSFER_SIZE
        except usb.core.USBError as exc:
            raise usb_error(exc, self.device_id, "reading DFU descriptors") from exc
        except ValueError as exc:
            raise TransportError(f"{self.device_id}: unreadable DFU memory layout: {exc}") from exc
        if ALT_INTERNAL not in self.layouts:
            raise TransportError(f"{self.device_id}: DFU interface has no internal-flash alt setting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._dev is not None:
            usb.util.dispose_resources(self._dev)
            self._dev = None

    # ------------------------------------------------------------------ transfers
    def _ctrl(self, bm: int, req: int, value: int, data_or_len: Any) -> Any:
        if self._dev is None:
            raise RuntimeError("DfuSeTarget used outside its context")
        try:
            return self._dev.ctrl_transfer(bm, req, value, 0, data_or_len, self.timeout_ms)
        except usb.core.USBError as exc:
            raise usb_error(exc, self.device_id, self._step) from exc

    def _select_alt(self, alt: int) -> None:
        if self._alt == alt:
            return
        try:
            self._dev.set_interface_altsetting(interface=0, alternate_setting=alt)
        except usb.core.USBError as exc:
            raise usb_error(exc, self.device_id, f"selecting alt setting {alt}") from exc
        self._alt = alt
        self._clear_error()

    def _status(self) -> tuple[int, int, int]:
        raw = bytes(self._ctrl(0xA1, GETSTATUS, 0, 6))
        if len(raw) < 6:
            raise TransportError(f"{self.device_id}: short GETSTATUS reply during {self._step}")
        return raw[0], int.from_bytes(raw[1:4], "little"), raw[4]

    def _clear_error(self) -> None:
        _status, _poll, state = self._status()
        if state == STATE_ERROR:
            self._ctrl(0x21, CLRSTATUS, 0, b"")
        elif state not in (2, STATE_DNLOAD_IDLE):
            self._ctrl(0x21, ABORT, 0, b"")

    def _dnload(self, block: int, data: bytes) -> None:
        """DNLOAD then GETSTATUS until the device has done the work, honouring bwPollTimeout."""
        self._ctrl(0x21, DNLOAD, block, data)
        deadline = time.monotonic() + OPERATION_TIMEOUT_S
        while True:
            status, poll_ms, state = self._status()
            if state == STATE_ERROR or status != 0:
                self._ctrl(0x21, CLRSTATUS, 0, b"")
                name = STATUS_NAMES.get(status, f"status {status:#x}")
                raise TransportError(f"{self.device_id}: device reported {name} during {self._step}")
            if state != STATE_DNBUSY:
                return
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"{self.device_id}: still busy after {OPERATION_TIMEOUT_S:.0f} s: {self._step}")
            if poll_ms:
                time.sleep(poll_ms / 1000)

    def _set_address(self, address: int) -> None:
        self._dnload(0, struct.pack("<BI", 0x21, address))

    # ------------------------------------------------------------------ operations
    def _alt_for(self, image: FlashImage) -> int:
        if image.address >= EXT_FLASH_BASE:
            if image.address < EXT_FLASH_BASE + DCT_EXT_SIZE:
                raise FirmwareError(
                    f"{self.device_id}: refusing to write {image.label or 'image'} at {image.address:#x}: "
                    "the first 16 KB of external flash hold the DCT and the device key"
                )
            return ALT_EXTERNAL
        return ALT_INTERNAL

    def _check(self, alt: int, image: FlashImage) -> None:
        if alt == ALT_DCT:
            raise FirmwareError(f"{self.device_id}: refusing to write the DCT (alt 1): it holds the device key")
        layout = self.layouts.get(alt)
        if layout is None:
            raise FirmwareError(f"{self.device_id}: device has no DFU alt setting {alt}")
        try:
            sectors = list(layout.sectors(image.address, len(image.data)))
        except ValueError as exc:
            raise FirmwareError(f"{image.label or 'image'}: {exc}") from exc
        locked = [s for s in sectors if not (s.segment.writable and s.segment.erasable)]
        if locked:
            raise FirmwareError(
                f"{image.label or 'image'}: sector {locked[0].start:#x} is read-only in the device's DFU layout"
            )

    def program(
        self,
        images: Sequence[FlashImage],
        *,
        verify: bool = True,
        progress: ProgressFn = no_progress,
        alt: int | None = None,
    ) -> FlashReport:
        """Erase the touched sectors, download every image, verify by UPLOAD. ``alt`` forces an alt setting."""
        plan = [(alt if alt is not None else self._alt_for(img), img) for img in images if img.data]
        for a, img in plan:
            self._check(a, img)  # refuse everything before changing anything
        report = FlashReport(erase_strategy="sector")
        total = sum(len(img.data) for _a, img in plan)
        done = 0
        erased: set[tuple[int, int]] = set()
        for a, img in plan:
            self._select_alt(a)
            t0 = time.perf_counter()
            for sector in self.layouts[a].sectors(img.address, len(img.data)):
                if (a, sector.start) in erased:
                    continue
                self._step = f"erasing {img.label or 'image'} sector {sector.start:#x}"
                self._dnload(0, struct.pack("<BI", 0x41, sector.start))
                erased.add((a, sector.start))
            t1 = time.perf_counter()
            for offset in range(0, len(img.data), self.transfer_size):
                address = img.address + offset
                chunk = img.data[offset : offset + self.transfer_size]
                self._step = f"writing {img.label or 'image'} at {address:#x}"
                self._set_address(address)
                self._dnload(2, chunk)
                done += len(chunk)
                progress(done, total)
            t2 = time.perf_counter()
            report.erase_s += t1 - t0
            report.program_s += t2 - t1
            report.bytes_written += len(img.data)
        if verify:
            t3 = time.perf_counter()
            for a, img in plan:
                self._verify(a, img)
            report.verify_s = time.perf_counter() - t3
            report.verified = True
        return report

    def read(self, alt: int, address: int, size: int) -> bytes:
        """UPLOAD ``size`` bytes from ``address`` in alt setting ``alt``."""
        self._select_alt(alt)
        self._step = f"reading {size} bytes at {address:#x}"
        self._set_address(address)
        self._ctrl(0x21, ABORT, 0, b"")  # back to dfuIDLE: UPLOAD starts from the address pointer
        out = bytearray()
        block = 2
        while len(out) < size:
            want = min(self.transfer_size, size - len(out))
            # DfuSe addresses UPLOAD blocks as pointer + (block-2)*wLength: keep wLength constant
            chunk = bytes(self._ctrl(0xA1, UPLOAD, block, self.transfer_size))
            if not chunk:
                raise TransportError(f"{self.device_id}: UPLOAD ended early at {address + len(out):#x}")
            out += chunk[:want]
            block += 1
        self._ctrl(0x21, ABORT, 0, b"")
        return bytes(out)

    def _verify(self, alt: int, image: FlashImage) -> None:
        got = self.read(alt, image.address, len(image.data))
        if got != image.data:
            first = next(i for i, (x, y) in enumerate(zip(got, image.data, strict=True)) if x != y)
            raise VerifyError(
                f"{self.device_id}: {image.label or 'image'} differs at {image.address + first:#x} "
                f"(wrote {image.data[first]:#04x}, read {got[first]:#04x})",
                address=image.address + first,
                expected=image.data[first : first + VERIFY_WINDOW],
                actual=got[first : first + VERIFY_WINDOW],
            )

    def leave(self) -> None:
        """Zero-length DNLOAD → manifestation → the device resets and runs its firmware."""
        self._select_alt(ALT_INTERNAL)
        self._step = "leaving DFU"
        self._set_address(self.layouts[ALT_INTERNAL].start)
        self._ctrl(0x21, DNLOAD, 0, b"")
        try:
            self._status()  # the device resets right after answering this
        except DeviceGone:
            pass  # some bootloaders drop off before the status stage completes


def open_dfu(device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> DfuSeTarget:
    """A DFU link to ``device_id`` (which must already be in DFU mode); opens on ``with``."""
    return DfuSeTarget(device_id, timeout_ms=timeout_ms)


def enter_dfu(device_id: str, timeout: float = 10.0) -> None:
    """Put ``device_id`` into DFU mode (control request 50) and wait until it re-enumerates as DFU.

    The device is re-found by its device ID, never by port or order: with several devices
    switching at once, that is what keeps each image going to the device it was meant for.
    """
    if find_device(device_id, "dfu") is not None:
        return
    with open_control(device_id) as ctl:
        ctl.enter_dfu()
    wait_for_device(device_id, "dfu", timeout)
