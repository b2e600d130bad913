"""The station's USB control client: Device OS's raw requests and its control-request service protocol.

Which request goes which way is Device OS's decision (device-os v5.9.0
``system/src/usb_control_request_channel.cpp``; facts in :mod:`station.protocol.usb_control`):
only DEVICE_ID and SYSTEM_VERSION are read as raw bRequest 0x50 requests (they answer even while
the system thread is busy); everything else goes through the service protocol — INIT, CHECK
until done, SEND the payload, RECV the reply — carrying the protobuf messages of
device-os-protobuf (:mod:`station.protocol.ctrl_messages`), the way particle-usb 4.2.0
(``src/device-base.js``) does. RESET and DFU_MODE use the service request (Device OS replies,
then resets a second later) rather than the raw RESET, which resets inside the request.

Requests the station sends, and only these: raw IN DEVICE_ID (20), raw IN SYSTEM_VERSION (30);
service SERIAL_NUMBER (21), RESET (40), DFU_MODE (50), START_LISTENING (70), STOP_LISTENING (71),
GET_DEVICE_MODE (72), SET/IS_DEVICE_SETUP_DONE (73/74), GET_MODULE_INFO (90), START/FINISH/CANCEL
FIRMWARE_UPDATE and FIRMWARE_UPDATE_DATA (250–253), and the service protocol's own RESET
(bRequest 5, cancels requests left from an earlier session). Nothing here can ask for a key or
the device secret: Device OS offers no such request (GET_SECURITY_KEY answers NOT_SUPPORTED) and
the station never sends one.

Errors: a transfer that times out is ``DeviceTimeout``; the device vanishing is ``DeviceGone``; a
STALL is ``RequestNotSupported`` for a raw request and ``TransportError`` inside the service
protocol; "busy" (four requests in flight) is retried with back-off until the request's deadline,
then ``UsbBusy``; a result code from Device OS is ``ControlRequestFailed`` carrying the code and
Device OS's own text (``RequestNotSupported`` for -120).
"""

from __future__ import annotations

import errno
import time
from typing import Any

import usb.core
import usb.util

from station.domain import ModuleStatus, normalize_device_id
from station.errors import (
    ControlRequestFailed,
    DeviceGone,
    DeviceTimeout,
    RequestNotSupported,
    TransportError,
    UsbBusy,
)
from station.hw.interfaces import ProgressFn, no_progress
from station.hw.usb import DEFAULT_TIMEOUT_MS, find_device, usb_error
from station.protocol import ctrl_messages as pb
from station.protocol.usb_control import (
    BM_VENDOR_IN,
    BM_VENDOR_OUT,
    MAX_CONTROL_TRANSFER,
    MAX_PAYLOAD_SIZE,
    MIN_WLENGTH,
    PARTICLE_BREQUEST,
    RequestType,
    ServiceReply,
    ServiceRequest,
    ServiceStatus,
    SystemError,
    system_error_message,
)

#: a request that is not done by then is cancelled and reported as a timeout
REQUEST_TIMEOUT_S = 10.0
#: START_FIRMWARE_UPDATE erases the OTA region first; FINISH may flash an NCP (tens of seconds)
UPDATE_REQUEST_TIMEOUT_S = 120.0
#: waits between CHECKs (s): particle-usb uses 50 ms upwards; asking at once first costs nothing
CHECK_INTERVALS_S = (0.0, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)


def _check_wait(n: int) -> float:
    return CHECK_INTERVALS_S[min(n, len(CHECK_INTERVALS_S) - 1)]


class UsbControlLink:
    """Control requests to one device in normal mode (implements ``UsbControl``). Use as a context manager."""

    def __init__(self, device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.device_id = normalize_device_id(device_id)
        self.timeout_ms = timeout_ms
        self._dev: Any = None

    def __enter__(self) -> UsbControlLink:
        found = find_device(self.device_id, "normal")
        if found is None:
            raise DeviceGone(f"{self.device_id}: not on USB in normal mode")
        self._dev = found[0]
        # Requests an earlier session left active would count against the device's four slots.
        self._service(ServiceRequest.RESET, 0, 0, "cancelling stale requests")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._dev is not None:
            usb.util.dispose_resources(self._dev)
            self._dev = None

    # ------------------------------------------------------------------ transfers
    def _transfer(self, bm: int, request: int, value: int, index: int, data_or_len: Any, what: str) -> Any:
        if self._dev is None:
            raise RuntimeError("UsbControlLink used outside its context")
        try:
            return self._dev.ctrl_transfer(bm, request, value, index, data_or_len, self.timeout_ms)
        except usb.core.USBError as exc:
            if exc.errno == errno.EPIPE:
                raise _Stalled(what) from exc
            raise usb_error(exc, self.device_id, what) from exc
        except ValueError as exc:
            raise TransportError(f"{self.device_id}: USB error during {what}: {exc}") from exc

    def _service(self, request: ServiceRequest, index: int, value: int, what: str) -> ServiceReply:
        try:
            raw = bytes(self._transfer(BM_VENDOR_IN, int(request), value, index, MIN_WLENGTH, what))
        except _Stalled as exc:
            raise TransportError(f"{self.device_id}: the device STALLed {request.name} during {what}") from exc
        try:
            return ServiceReply.decode(raw)
        except ValueError as exc:
            raise TransportError(f"{self.device_id}: unreadable {request.name} reply during {what}: {exc}") from exc

    # ------------------------------------------------------------------ raw requests (bRequest 0x50)
    def _raw_in(self, req_type: RequestType) -> str:
        try:
            data = bytes(self._transfer(BM_VENDOR_IN, PARTICLE_BREQUEST, 0, int(req_type), MIN_WLENGTH, req_type.name))
        except _Stalled as exc:
            raise RequestNotSupported(
                f"{self.device_id}: the device does not answer {req_type.name}", request=req_type.name,
                result=SystemError.NOT_SUPPORTED,
            ) from exc  # fmt: skip
        return data.split(b"\0", 1)[0].decode("ascii", "replace").strip()

    # ------------------------------------------------------------------ service protocol
    def request(self, req_type: RequestType, payload: bytes = b"", *, timeout_s: float = REQUEST_TIMEOUT_S) -> bytes:
        """One service request; returns the reply payload, raises for any result but 0."""
        if len(payload) > MAX_PAYLOAD_SIZE:
            raise ValueError(f"{req_type.name}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_SIZE}")
        name = req_type.name
        deadline = time.monotonic() + timeout_s
        attempt = 0
        while True:
            init = self._service(ServiceRequest.INIT, int(req_type), len(payload), f"{name} (INIT)")
            if init.status != ServiceStatus.BUSY:
                break
            if time.monotonic() >= deadline:
                raise UsbBusy(f"{self.device_id}: the device stayed busy; {name} was not accepted in {timeout_s:.0f} s")
            time.sleep(_check_wait(attempt + 4))
            attempt += 1
        if init.status == ServiceStatus.NO_MEMORY:
            raise TransportError(f"{self.device_id}: the device has no memory for {name}")
        if init.status not in (ServiceStatus.OK, ServiceStatus.PENDING) or init.id is None:
            raise TransportError(f"{self.device_id}: unexpected INIT status {init.status} for {name}")
        rid = init.id
        try:
            sent = False
            if init.status == ServiceStatus.OK:
                self._send(rid, payload, name)
                sent = True
            elif not payload:
                raise TransportError(f"{self.device_id}: INIT of {name} answered PENDING without a payload")
            checks = 0
            while True:
                time.sleep(_check_wait(checks))
                checks += 1
                rep = self._service(ServiceRequest.CHECK, rid, 0, f"{name} (CHECK)")
                if rep.status == ServiceStatus.PENDING:
                    if time.monotonic() >= deadline:
                        raise DeviceTimeout(f"{self.device_id}: {name} was not done within {timeout_s:.0f} s")
                    continue
                if rep.status == ServiceStatus.OK and not sent:
                    self._send(rid, payload, name)  # the device has its buffer now
                    sent, checks = True, 0
                    continue
                if rep.status == ServiceStatus.OK:
                    break
                if rep.status == ServiceStatus.NO_MEMORY:
                    raise TransportError(f"{self.device_id}: the device ran out of memory for {name}")
                if rep.status == ServiceStatus.NOT_FOUND:
                    raise TransportError(f"{self.device_id}: the device cancelled {name}")
                raise TransportError(f"{self.device_id}: unexpected CHECK status {rep.status} for {name}")
            reply = self._recv(rid, rep.size or 0, name)
        except (DeviceTimeout, TransportError):
            self._cancel(rid)
            raise
        result = rep.result if rep.result is not None else SystemError.NONE
        if result != SystemError.NONE:
            cls = RequestNotSupported if result == SystemError.NOT_SUPPORTED else ControlRequestFailed
            raise cls(
                f"{self.device_id}: {name} failed: {system_error_message(result)} ({result})", request=name,
                result=result,
            )  # fmt: skip
        return reply

    def _send(self, rid: int, payload: bytes, name: str) -> None:
        for offset in range(0, len(payload), MAX_CONTROL_TRANSFER):
            chunk = payload[offset : offset + MAX_CONTROL_TRANSFER]
            try:
                self._transfer(BM_VENDOR_OUT, ServiceRequest.SEND, 0, rid, chunk, f"{name} (SEND)")
            except _Stalled as exc:
                raise TransportError(f"{self.device_id}: the device STALLed the payload of {name}") from exc

    def _recv(self, rid: int, size: int, name: str) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(MAX_CONTROL_TRANSFER, size - len(out))
            try:
                chunk = bytes(self._transfer(BM_VENDOR_IN, ServiceRequest.RECV, 0, rid, n, f"{name} (RECV)"))
            except _Stalled as exc:
                raise TransportError(f"{self.device_id}: the device STALLed the reply of {name}") from exc
            if len(chunk) != n:
                raise TransportError(f"{self.device_id}: short reply to {name} ({len(chunk)} of {n} bytes)")
            out += chunk
        return bytes(out)

    def _cancel(self, rid: int) -> None:
        try:
            self._service(ServiceRequest.RESET, rid, 0, "cancelling a request")
        except (TransportError, DeviceTimeout, DeviceGone):
            pass  # the request's own error is the one worth reporting

    def call(self, req_type: RequestType, message: Any = None, *, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        """A service request with protobuf messages: encode ``message``, decode the reply type."""
        reply_cls = pb.REQUESTS[req_type][1]
        payload = b"" if message is None else message.SerializeToString()
        reply = self.request(req_type, payload, timeout_s=timeout_s)
        if reply_cls is None:
            return None
        try:
            return pb.decode(reply_cls, reply)
        except ValueError as exc:
            raise TransportError(f"{self.device_id}: unreadable reply to {req_type.name}: {exc}") from exc

    # ------------------------------------------------------------------ what the pipeline asks
    def get_device_id(self) -> str:
        """Raw DEVICE_ID: Device OS answers upper-case hex; the station's form is lower-case."""
        return self._raw_in(RequestType.DEVICE_ID).lower()

    def get_system_version(self) -> str:
        return self._raw_in(RequestType.SYSTEM_VERSION)

    def get_serial_number(self) -> str:
        return str(self.call(RequestType.SERIAL_NUMBER).serial)

    def get_module_info(self) -> list[ModuleStatus]:
        rep = self.call(RequestType.GET_MODULE_INFO)
        if len(rep.modules):
            return [_module_status(m) for m in rep.modules]
        # Device OS before 5.6.0 (GetModuleInfoReply.modules_deprecated, validity = failed checks)
        legacy_function = {1: 2, 2: 4, 3: 5, 4: 3, 5: 7, 6: 8}
        return [
            ModuleStatus(
                legacy_function.get(int(m.type), 0), int(m.index), int(m.version), valid=int(m.validity) == 0,
                failed_checks=int(m.validity), size=int(m.size),
            )
            for m in rep.modules_deprecated
        ]  # fmt: skip

    def reset(self) -> None:
        """Service RESET: Device OS answers, then resets about a second later."""
        self.call(RequestType.RESET)

    def enter_dfu(self) -> None:
        self.call(RequestType.DFU_MODE)

    def start_listening(self) -> None:
        self.call(RequestType.START_LISTENING, pb.StartListeningModeRequest())

    def stop_listening(self) -> None:
        self.call(RequestType.STOP_LISTENING, pb.StopListeningModeRequest())

    def is_listening(self) -> bool:
        return int(self.call(RequestType.GET_DEVICE_MODE).mode) == pb.DEVICE_MODE_LISTENING

    def set_setup_done(self, done: bool = True) -> None:
        self.call(RequestType.SET_DEVICE_SETUP_DONE, pb.SetDeviceSetupDoneRequest(done=done))

    def is_setup_done(self) -> bool:
        return bool(self.call(RequestType.IS_DEVICE_SETUP_DONE).done)

    def update_firmware(
        self, data: bytes, *, progress: ProgressFn = no_progress, timeout_s: float = UPDATE_REQUEST_TIMEOUT_S
    ) -> None:
        """particle-usb's ``updateFirmware``: START (size), DATA in the device's chunk size, FINISH.

        Once FINISH is answered Device OS applies the module and resets by itself; the caller
        follows the device through that reset (:func:`station.hw.usb_update.update_module`).
        """
        if not data:
            raise ValueError("an empty firmware image")
        start = self.call(
            RequestType.START_FIRMWARE_UPDATE, pb.StartFirmwareUpdateRequest(size=len(data), format=pb.FILE_FORMAT_BIN),
            timeout_s=timeout_s,
        )  # fmt: skip
        chunk = int(start.chunk_size) or 1024
        try:
            for offset in range(0, len(data), chunk):
                part = data[offset : offset + chunk]
                self.call(RequestType.FIRMWARE_UPDATE_DATA, pb.FirmwareUpdateDataRequest(data=part), timeout_s=timeout_s)
                progress(offset + len(part), len(data))
            self.call(RequestType.FINISH_FIRMWARE_UPDATE, pb.FinishFirmwareUpdateRequest(validate_only=False),
                      timeout_s=timeout_s)  # fmt: skip
        except ControlRequestFailed:
            try:
                self.call(RequestType.CANCEL_FIRMWARE_UPDATE, pb.CancelFirmwareUpdateRequest())
            except (TransportError, DeviceTimeout, DeviceGone, UsbBusy):
                pass
            raise


class _Stalled(Exception):
    """The device STALLed a transfer (EPIPE); turned into a station error by the caller."""


def _module_status(m: Any) -> ModuleStatus:
    checked, passed = int(m.checked_flags), int(m.passed_flags)
    failed = checked & ~passed
    return ModuleStatus(
        int(m.type), int(m.index), int(m.version), valid=failed == 0, failed_checks=failed, size=int(m.size),
        max_size=int(m.max_size), sha256=bytes(m.hash).hex() if m.HasField("hash") else "",
        dependencies=tuple((int(d.type), int(d.index), int(d.version)) for d in m.dependencies),
    )  # fmt: skip


def open_control(device_id: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> UsbControlLink:
    """A control link to ``device_id`` (in normal mode); opens on ``with``."""
    return UsbControlLink(device_id, timeout_ms=timeout_ms)
