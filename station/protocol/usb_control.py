"""Particle's USB control requests: the four raw vendor requests and the service protocol.

Checked against device-os v5.9.0 (and unchanged in v6.2.0) ``system/src/usb_control_request_channel.{h,cpp}``,
``system/inc/system_control.h`` and ``services/inc/system_error.h``, and against particle-usb 4.2.0
``src/usb-protocol.js``, ``src/device-base.js`` and ``src/result.js``.

Raw requests. Device OS answers exactly four vendor requests with bRequest 0x50 ('P') and
``wIndex`` = request type: IN DEVICE_ID (20, the device ID as **upper-case** hex, ``bytes2hexbuf``),
IN SYSTEM_VERSION (30, the version string), OUT RESET (40, resets inside the request: the host
sees an error) and OUT CLOUD_DISCONNECT (302). Any other raw request, and any IN request without a
data stage, is STALLed (the HAL callback returns 1).

Service protocol (bRequest 1–15 are reserved for it; 1–5 are defined, the rest STALL):

=====  =========  =====================================================================
INIT   IN, 64 B   wIndex = request type, wValue = payload size → reply {status, id}
CHECK  IN, 64 B   wIndex = id → PENDING while the device works; OK (+ result, + size)
SEND   OUT        wIndex = id, the payload (particle-usb sends it in 4 KB transfers)
RECV   IN         wIndex = id, wLength = bytes of the reply payload to read
RESET  IN, 64 B   wIndex = id (0: every active request) → cancels
=====  =========  =====================================================================

A service reply is ``u32 field flags, u16 status [, u16 id] [, u32 payload size] [, i32 result]``
(little endian); the flags say which optional fields follow. ``result`` is a ``system_error_t``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

PARTICLE_BREQUEST = 0x50
#: bmRequestType of vendor requests to the device
BM_VENDOR_OUT = 0x40
BM_VENDOR_IN = 0xC0
#: bRequest values reserved for the service protocol (usb_control_request_channel.cpp ``isServiceRequestType``)
SERVICE_BREQUESTS = range(0x01, 0x10)
#: minimum data stage of INIT/CHECK/RESET (``MIN_WLENGTH``)
MIN_WLENGTH = 64
#: requests one device keeps active at a time (``USB_REQUEST_MAX_ACTIVE_COUNT``)
MAX_ACTIVE_REQUESTS = 4
#: payloads up to this size get a pooled buffer at INIT; larger ones are allocated asynchronously
MAX_POOLED_BUFFER_SIZE = 64
MAX_PAYLOAD_SIZE = 0xFFFF
INVALID_REQUEST_ID = 0
#: particle-usb's largest control transfer (``MAX_CONTROL_TRANSFER_DATA_SIZE``): SEND/RECV chunk size
MAX_CONTROL_TRANSFER = 4096


class ServiceRequest(enum.IntEnum):
    INIT = 1
    CHECK = 2
    SEND = 3
    RECV = 4
    RESET = 5


class ServiceStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    PENDING = 2
    BUSY = 3
    NO_MEMORY = 4
    NOT_FOUND = 5


class FieldFlag(enum.IntFlag):
    STATUS = 0x01
    ID = 0x02
    SIZE = 0x04
    RESULT = 0x08


class RequestType(enum.IntEnum):
    """``ctrl_request_type`` (system_control.h, v5.9.0): the requests this project names."""

    ECHO = 1
    DEVICE_ID = 20
    SERIAL_NUMBER = 21
    SYSTEM_VERSION = 30
    NCP_FIRMWARE_VERSION = 31
    GET_SYSTEM_CAPABILITIES = 32
    RESET = 40
    FACTORY_RESET = 41
    DFU_MODE = 50
    SAFE_MODE = 60
    START_LISTENING = 70
    STOP_LISTENING = 71
    GET_DEVICE_MODE = 72
    SET_DEVICE_SETUP_DONE = 73
    IS_DEVICE_SETUP_DONE = 74
    SET_STARTUP_MODE = 75
    GET_MODULE_INFO = 90
    DIAGNOSTIC_INFO = 100
    SET_SECURITY_KEY = 210
    GET_SECURITY_KEY = 211
    START_FIRMWARE_UPDATE = 250
    FINISH_FIRMWARE_UPDATE = 251
    CANCEL_FIRMWARE_UPDATE = 252
    FIRMWARE_UPDATE_DATA = 253
    CLOUD_GET_CONNECTION_STATUS = 300
    CLOUD_CONNECT = 301
    CLOUD_DISCONNECT = 302


#: the only raw (bRequest 0x50) requests Device OS answers, by direction
RAW_IN_REQUESTS = frozenset({RequestType.DEVICE_ID, RequestType.SYSTEM_VERSION})
RAW_OUT_REQUESTS = frozenset({RequestType.RESET, RequestType.CLOUD_DISCONNECT})


class SystemError(enum.IntEnum):
    """``system_error_t`` codes a control request can end with (services/inc/system_error.h)."""

    NONE = 0
    UNKNOWN = -100
    BUSY = -110
    NOT_SUPPORTED = -120
    NOT_ALLOWED = -130
    CANCELLED = -140
    ABORTED = -150
    TIMEOUT = -160
    NOT_FOUND = -170
    ALREADY_EXISTS = -180
    TOO_LARGE = -190
    LIMIT_EXCEEDED = -200
    INVALID_STATE = -210
    FLASH_IO = -219
    IO = -220
    PROTOCOL = -240
    INTERNAL = -250
    NO_MEMORY = -260
    INVALID_ARGUMENT = -270
    BAD_DATA = -280
    OUT_OF_RANGE = -290
    OTA_MODULE_NOT_FOUND = -1300
    OTA_UNSUPPORTED_MODULE = -1310
    OTA_VALIDATION_FAILED = -1320
    OTA_INTEGRITY_CHECK_FAILED = -1330
    OTA_DEPENDENCY_CHECK_FAILED = -1340
    OTA_INVALID_ADDRESS = -1350
    OTA_INVALID_SIZE = -1351
    OTA_INVALID_PLATFORM = -1360
    OTA_INVALID_FORMAT = -1370
    OTA_UPDATES_DISABLED = -1380


SYSTEM_ERROR_MESSAGES: dict[int, str] = {
    0: "", -100: "Unknown error", -110: "Resource busy", -120: "Not supported", -130: "Not allowed",
    -140: "Operation cancelled", -150: "Operation aborted", -160: "Timeout error", -170: "Not found",
    -180: "Already exists", -190: "Too large data", -200: "Limit exceeded", -210: "Invalid state",
    -219: "Flash IO error", -220: "IO error", -240: "Protocol error", -250: "Internal error",
    -260: "Memory allocation error", -270: "Invalid argument", -280: "Invalid data format", -290: "Out of range",
    -1300: "Module not found", -1310: "Unsupported module", -1320: "Module validation failed",
    -1330: "Module integrity check failed", -1340: "Module dependency check failed",
    -1350: "Invalid module address", -1351: "Invalid module size", -1360: "Invalid module platform",
    -1370: "Invalid module format", -1380: "Firmware updates are disabled",
}  # fmt: skip


def system_error_message(code: int) -> str:
    """Device OS's own text for a result code (``Unknown error`` style), or the number."""
    return SYSTEM_ERROR_MESSAGES.get(code) or f"system error {code}"


@dataclass(frozen=True)
class ServiceReply:
    """The reply to INIT, CHECK or RESET; optional fields are ``None`` when absent."""

    status: int
    id: int | None = None
    size: int | None = None
    result: int | None = None

    def encode(self) -> bytes:
        flags = FieldFlag.STATUS
        out = b""
        if self.id is not None:
            flags |= FieldFlag.ID
            out += struct.pack("<H", self.id)
        if self.size is not None:
            flags |= FieldFlag.SIZE
            out += struct.pack("<I", self.size)
        if self.result is not None:
            flags |= FieldFlag.RESULT
            out += struct.pack("<i", self.result)
        return struct.pack("<IH", int(flags), self.status) + out

    @classmethod
    def decode(cls, data: bytes) -> ServiceReply:
        """Parse a reply; ``ValueError`` when it is too short or lacks the mandatory status."""
        if len(data) < 6:
            raise ValueError(f"service reply of {len(data)} bytes is too short")
        flags, status = struct.unpack_from("<IH", data)
        if not flags & FieldFlag.STATUS:
            raise ValueError("service reply is missing its status field")
        offset = 6
        fields: dict[str, int] = {}
        for flag, name, fmt in ((FieldFlag.ID, "id", "<H"), (FieldFlag.SIZE, "size", "<I"), (FieldFlag.RESULT, "result", "<i")):
            if flags & flag:
                n = struct.calcsize(fmt)
                if len(data) < offset + n:
                    raise ValueError(f"service reply ends before its {name} field")
                fields[name] = struct.unpack_from(fmt, data, offset)[0]
                offset += n
        return cls(status=status, **fields)
