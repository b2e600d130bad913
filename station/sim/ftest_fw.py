"""What a twin says on its serial port: Device OS listening mode, or the factory-test firmware.

The reply depends on what the device is running at that moment (``run_state``/``running_app``):
listening mode answers single-key commands (``i``, ``v``, ``s``, ``m``); the factory-test user
part speaks the JSON-lines protocol of ``docs/factory-test-protocol.md``; product firmware and
safe mode print nothing the station asks for. Measurements are deterministic per device (seeded
by the device ID) and inside the healthy range, unless the ``measurement_overrides`` fault says
otherwise; ``serial_silent``, ``serial_garbled`` and ``modem_silent`` behave as named.
"""

from __future__ import annotations

import json
import random
from typing import Any

from station.sim.device import Twin
from station.sim.firmware_view import app_identity, system_version
from station.sim.listening_console import CONSOLE_SETTINGS, ListeningConsole, mac_address

FACTORY_TEST_APP = "factory-test"
__all__ = ["CONSOLE_SETTINGS", "FACTORY_TEST_APP", "TwinConsole", "mac_address"]

_RANGES = {"battery": (3.70, 4.10, 2, "V"), "vin": (4.90, 5.10, 2, "V"), "temp": (22.0, 32.0, 1, "C")}


class TwinConsole:
    """Turns bytes the host sends into bytes the device answers. One per served port."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self._line = bytearray()
        self._noise = random.Random(twin.device_id)
        self.listening = ListeningConsole(twin)

    def feed(self, data: bytes) -> bytes:
        st = self.twin.state
        faults = self.twin.current_faults()
        out = bytearray()
        for byte in data:
            if st.run_state == "listening":
                out += self.listening.feed(byte)
            elif st.run_state == "running" and st.running_app == FACTORY_TEST_APP:
                if byte in (10, 13):
                    if self._line:
                        out += self._ftest_line(bytes(self._line))
                    self._line.clear()
                else:
                    self._line.append(byte)
        if faults.serial_silent:
            return b""
        if faults.serial_garbled and out:
            return bytes(self._noise.randrange(256) for _ in range(len(out))).replace(b"\n", b"?") + b"\r\n"
        return bytes(out)

    # ------------------------------------------------------------------ factory test
    def _ftest_line(self, line: bytes) -> bytes:
        try:
            req = json.loads(line.decode())
            rid = req["id"]
            cmd = str(req["cmd"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return _reply({"id": None, "ok": False, "error": "bad_request"})
        reply = self._command(cmd, req)
        if reply is None:
            return b""  # blocked on a silent modem: the firmware never answers
        return _reply({"id": rid, **reply})

    def _command(self, cmd: str, req: dict[str, Any]) -> dict[str, Any] | None:
        twin = self.twin
        faults = twin.current_faults()
        ident = twin.identity
        override = faults.measurement_overrides.get(cmd)
        if cmd == "hello":
            name, version = app_identity(twin)
            return {"ok": True, "value": FACTORY_TEST_APP, "app": name, "app_version": version,
                    "device_id": twin.device_id, "serial_number": ident.serial_number}  # fmt: skip
        if cmd in _RANGES:
            lo, hi, digits, unit = _RANGES[cmd]
            value = override if override is not None else round(self._rng(cmd).uniform(lo, hi), digits)
            return {"ok": True, "value": value, "unit": unit}
        if cmd == "button":
            return {"ok": True, "value": bool(override) if override is not None else False}
        if cmd == "led":
            color = str(req.get("color", ""))
            if not color:
                return {"ok": False, "error": "bad_args"}
            twin.events.record("led", color=color)
            return {"ok": True, "value": color}
        if cmd in ("modem", "imei", "iccid"):
            if not twin.platform.cellular:
                return {"ok": False, "error": "no_modem"}
            if faults.modem_silent:
                return None
            if cmd == "modem":
                return {"ok": True, "value": "OK", "imei": ident.imei, "iccid": ident.iccid}
            return {"ok": True, "value": ident.imei if cmd == "imei" else ident.iccid}
        if cmd == "version":
            return {"ok": True, "value": system_version(twin), "system": system_version(twin),
                    "app": self._app_version()}  # fmt: skip
        return {"ok": False, "error": "unknown_command"}

    def _rng(self, cmd: str) -> random.Random:
        return random.Random(f"{self.twin.device_id}:{cmd}")

    def _app_version(self) -> str:
        return app_identity(self.twin)[1]


def _reply(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, separators=(",", ":")) + "\r\n").encode()
