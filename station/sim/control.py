"""The twin's vendor requests in normal mode: Device OS's ``UsbControlRequestChannel``, request by request.

Follows device-os v5.9.0 ``system/src/usb_control_request_channel.cpp`` (unchanged in v6.2.0):

* bRequest 0x50 ("raw" requests): IN DEVICE_ID (upper-case hex) and IN SYSTEM_VERSION answer
  when the host asks for enough bytes; OUT RESET resets the device inside the request (the host
  sees the device vanish), OUT CLOUD_DISCONNECT stops any cloud connection. Everything else STALLs,
  and so does an IN request with no data stage.
* bRequest 1–15 are service requests; 1–5 are INIT/CHECK/SEND/RECV/RESET and the rest STALL.
  Up to four requests may be active; payloads up to 64 bytes get a buffer at once, larger ones
  answer PENDING at INIT until the buffer is allocated; a request runs once its payload is in;
  CHECK answers PENDING until it is done, then OK with the result (and the reply size, which the
  host reads with RECV). A request is finished — and its completion handler runs, e.g. a reset —
  when the host has read the whole reply, or has read the CHECK if there is none. RESET cancels.

Everything the request *does* is in :mod:`station.sim.control_handlers`. The time a request
takes on the device (a flash erase, an NCP update) is device time: charged at once, or, in
realtime mode, CHECK answers PENDING until that much wall time has passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from station.protocol.usb_control import (
    MAX_ACTIVE_REQUESTS,
    MAX_POOLED_BUFFER_SIZE,
    MIN_WLENGTH,
    PARTICLE_BREQUEST,
    SERVICE_BREQUESTS,
    RequestType,
    ServiceReply,
    ServiceRequest,
    ServiceStatus,
    SystemError,
)
from station.sim.control_handlers import DeviceOsControl, Outcome
from station.sim.device import Twin
from station.sim.dfu import Stall, Vanished
from station.sim.firmware_view import system_version

# RequestState of usb_control_request_channel.h
ALLOC_PENDING, ALLOC_FAILED, RECV_PAYLOAD, PENDING, DONE = range(5)


@dataclass
class _Request:
    id: int
    type: int
    size: int
    data: bytearray = field(default_factory=bytearray)
    state: int = RECV_PAYLOAD
    offset: int = 0
    result: int = SystemError.UNKNOWN
    reply: bytes = b""
    outcome: Outcome | None = None
    ready_at: float = 0.0


class ControlFunction:
    """Vendor requests of one enumeration of one twin in normal mode."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.system = DeviceOsControl(twin)
        self.active: dict[int, _Request] = {}
        self.last_id = 0
        #: the request whose last data stage just went out (finished once the transfer completes)
        self._current: _Request | None = None
        #: kept for the backend: it must re-check the device after a request that reset it
        self.reset_requested: str | None = None

    # ------------------------------------------------------------------ entry points (backend)
    def control_in(self, request: int, index: int, value: int, length: int) -> bytes:
        if request == PARTICLE_BREQUEST:
            return self._raw_in(index, length)
        if request in SERVICE_BREQUESTS:
            return self._service_in(request, index, value, length)
        raise Stall(f"vendor IN bRequest {request:#x}")

    def control_out(self, request: int, index: int, value: int, data: bytes) -> None:
        if request == PARTICLE_BREQUEST:
            self._raw_out(index)
        elif request == ServiceRequest.SEND:
            self._send(index, data)
        else:
            raise Stall(f"vendor OUT bRequest {request:#x}")

    def after_transfer(self) -> None:
        """The status stage completed (``HAL_USB_VENDOR_REQUEST_STATE_TX_COMPLETED``)."""
        req, self._current = self._current, None
        if req is not None and req.offset >= len(req.reply):
            self._finish(req, SystemError.NONE)

    # ------------------------------------------------------------------ raw requests
    def _raw_in(self, req_type: int, length: int) -> bytes:
        if length == 0:
            raise Stall("raw IN request without a data stage")
        if req_type == RequestType.DEVICE_ID:
            text = self.twin.device_id.upper()  # bytes2hexbuf: upper-case
        elif req_type == RequestType.SYSTEM_VERSION:
            text = system_version(self.twin)
        else:
            raise Stall(f"raw IN request type {req_type} is not one Device OS answers")
        if length < len(text):
            raise Stall(f"raw request {req_type}: wLength {length} < {len(text)}")
        return text.encode()

    def _raw_out(self, req_type: int) -> None:
        if req_type == RequestType.RESET:
            from station.sim.boot import boot_device

            # HAL_Core_System_Reset_Ex inside the request: the status stage never completes
            boot_device(self.twin, cause="usb-reset")
            raise Vanished("the device reset while answering RESET")
        if req_type == RequestType.CLOUD_DISCONNECT:
            self.twin.events.record("cloud_disconnect", cause="usb-raw")
            return
        raise Stall(f"raw OUT request type {req_type} is not one Device OS answers")

    # ------------------------------------------------------------------ service requests
    def _service_in(self, request: int, index: int, value: int, length: int) -> bytes:
        if request == ServiceRequest.INIT:
            return self._init(index, value, length)
        if request == ServiceRequest.CHECK:
            return self._check(index, length)
        if request == ServiceRequest.RECV:
            return self._recv(index, length)
        if request == ServiceRequest.RESET:
            return self._reset(index, length)
        raise Stall(f"service request {request} is not defined (or not an IN request)")

    def _init(self, req_type: int, size: int, length: int) -> bytes:
        if length < MIN_WLENGTH:
            raise Stall("INIT with a data stage under 64 bytes")
        if len(self.active) >= MAX_ACTIVE_REQUESTS:
            return ServiceReply(ServiceStatus.BUSY).encode()
        self.last_id = self.last_id % 0xFFFF + 1  # u16, never 0 (USB_REQUEST_INVALID_ID)
        req = _Request(self.last_id, req_type, size)
        self.active[req.id] = req
        if size == 0:
            self._run(req)
            status = ServiceStatus.OK
        elif size <= MAX_POOLED_BUFFER_SIZE:
            status = ServiceStatus.OK
        else:
            # allocated by the system thread; it is there by the host's first CHECK
            status = ServiceStatus.PENDING
        return ServiceReply(status, id=req.id).encode()

    def _check(self, rid: int, length: int) -> bytes:
        if length < MIN_WLENGTH:
            raise Stall("CHECK with a data stage under 64 bytes")
        req = self.active.get(rid)
        if req is None:
            return ServiceReply(ServiceStatus.NOT_FOUND).encode()
        if req.state == PENDING and time.perf_counter() >= req.ready_at:
            self._complete(req)
        if req.state in (RECV_PAYLOAD,):
            return ServiceReply(ServiceStatus.OK).encode()
        if req.state != DONE:
            return ServiceReply(ServiceStatus.PENDING).encode()
        if req.reply:
            return ServiceReply(ServiceStatus.OK, size=len(req.reply), result=req.result).encode()
        self._current = req
        return ServiceReply(ServiceStatus.OK, result=req.result).encode()

    def _send(self, rid: int, data: bytes) -> None:
        req = self.active.get(rid)
        if req is None or req.state != RECV_PAYLOAD or req.offset + len(data) > req.size:
            raise Stall("SEND for no request, in the wrong state, or past its size")
        req.data += data
        req.offset += len(data)
        if req.offset == req.size:
            req.offset = 0
            self._run(req)

    def _recv(self, rid: int, length: int) -> bytes:
        req = self.active.get(rid)
        if req is None or req.state != DONE or length == 0 or req.offset + length > len(req.reply):
            raise Stall("RECV for no request, before it is done, or past its reply")
        chunk = req.reply[req.offset : req.offset + length]
        req.offset += length
        self._current = req
        return chunk

    def _reset(self, rid: int, length: int) -> bytes:
        if length < MIN_WLENGTH:
            raise Stall("RESET with a data stage under 64 bytes")
        if rid != 0:
            req = self.active.get(rid)
            if req is None:
                return ServiceReply(ServiceStatus.NOT_FOUND).encode()
            self._finish(req, SystemError.CANCELLED)
        else:
            for req in list(self.active.values()):
                self._finish(req, SystemError.CANCELLED)
        return ServiceReply(ServiceStatus.OK).encode()

    # ------------------------------------------------------------------ the system thread
    def _run(self, req: _Request) -> None:
        """Hand the request to Device OS; its result is visible once the device time it costs has passed."""
        req.state = PENDING
        req.outcome = self.system.handle(req.type, bytes(req.data))
        req.data = bytearray()
        cost = req.outcome.cost_s
        if self.twin.realtime and cost > 0:
            req.ready_at = time.perf_counter() + cost * (self.twin.current_faults().slow_factor or 1.0)
        else:
            self.twin.clock.advance(cost)
            self._complete(req)

    def _complete(self, req: _Request) -> None:
        assert req.outcome is not None
        if self.twin.realtime and req.ready_at:
            self.twin.clock.advance(req.outcome.cost_s)  # wall time already passed: re-anchors, no sleep
        req.result = int(req.outcome.result)
        req.reply = req.outcome.reply if req.result == SystemError.NONE else b""
        req.offset = 0
        req.state = DONE

    def _finish(self, req: _Request, result: int) -> None:
        """``finishActiveRequest`` + ``finishRequest``: forget it, then run its completion handler."""
        self.active.pop(req.id, None)
        if self._current is req:
            self._current = None
        completion = req.outcome.completion if req.outcome is not None and req.state == DONE else None
        if completion is not None:
            self.reset_requested = "completion"
            completion()
