"""The twin's vendor control requests (normal mode), framed like Particle's "simple" requests.

Framing (particle-usb ``src/usb-protocol.js``): bmRequestType 0xC0 (IN) or 0x40 (OUT), bRequest
0x50 ('P'), wIndex = request type. Reply payloads are this project's choice where particle-usb
uses protobuf, and are documented in ``station.hw.usb``, the one client of this face:

==========================  ===  ====================================================
DEVICE_ID                    20  IN: the device ID, 24 ASCII hex characters
SYSTEM_VERSION               30  IN: Device OS version string, e.g. ``5.9.0``
RESET                        40  OUT: the device resets (re-enumerates, boots again)
DFU_MODE                     50  OUT: the device resets into DFU mode
START_LISTENING              70  OUT: enter listening mode (serial setup console)
SET_DEVICE_SETUP_DONE        73  OUT: wValue 1 = done, 0 = not done
IS_DEVICE_SETUP_DONE         74  IN: one byte, 1 or 0
GET_MODULE_INFO              90  IN: compact JSON ``[{"f":4,"n":1,"v":5900,"ok":true}, ...]``
==========================  ===  ====================================================

Unknown request types STALL, as Device OS does for requests it has no handler for.
"""

from __future__ import annotations

import json

from station.sim.device import Twin
from station.sim.dfu import Stall
from station.sim.firmware_view import flash_modules, system_version

PARTICLE_BREQUEST = 0x50

DEVICE_ID = 20
SYSTEM_VERSION = 30
RESET = 40
DFU_MODE = 50
START_LISTENING = 70
SET_DEVICE_SETUP_DONE = 73
IS_DEVICE_SETUP_DONE = 74
GET_MODULE_INFO = 90


class ControlFunction:
    """Handles vendor requests for one twin. Returns which reset, if any, the request caused."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        #: "reset" | "dfu" after a request that resets the device once the reply is sent
        self.reset_requested: str | None = None

    def control_in(self, request: int, req_type: int, value: int, length: int) -> bytes:
        if request != PARTICLE_BREQUEST:
            raise Stall(f"vendor bRequest {request:#x}")
        twin = self.twin
        if req_type == DEVICE_ID:
            return twin.device_id.encode()
        if req_type == SYSTEM_VERSION:
            return system_version(twin).encode()
        if req_type == IS_DEVICE_SETUP_DONE:
            return bytes([1 if twin.state.setup_done else 0])
        if req_type == GET_MODULE_INFO:
            mods = [
                {"f": int(m.function), "n": int(m.index), "v": int(m.version), "ok": bool(m.valid)}
                for m in flash_modules(twin)
            ]
            return json.dumps(mods, separators=(",", ":")).encode()
        raise Stall(f"unknown IN request type {req_type}")

    def control_out(self, request: int, req_type: int, value: int, data: bytes) -> None:
        if request != PARTICLE_BREQUEST:
            raise Stall(f"vendor bRequest {request:#x}")
        twin = self.twin
        if req_type == RESET:
            self.reset_requested = "reset"
        elif req_type == DFU_MODE:
            twin.update_state(dfu_requested=True)
            self.reset_requested = "dfu"
        elif req_type == START_LISTENING:
            twin.update_state(run_state="listening", running_app=None)
            twin.events.record("listening", cause="usb")
        elif req_type == SET_DEVICE_SETUP_DONE:
            twin.update_state(setup_done=bool(value))
        else:
            raise Stall(f"unknown OUT request type {req_type}")
