"""Device OS's listening-mode console (the serial setup console) as a twin answers it.

Each key, as device-os ``system/src/system_setup.cpp`` handles it (v5.9.0; the ``f`` answer changed
in v6.0.0 and the twin follows the Device OS version in its flash):

=====  ====================================================================================
``i``  ``Device ID: <id>`` then ``Key: value`` lines for every system property Device OS has
       (``HAL_OTA_Add_System_Info``): Device Secret (``ms``), Serial Number (``sn``), and on
       cellular platforms IMEI, ICCID, Cell Radio Version (``cellfw``). Only a device with no
       property at all prints ``Your device id is <id>``.
``v``  ``system firmware version: <v>`` + ``"\\n"``, then ``"\\r\\n"`` (two line endings)
``s``  ``{"p":…,<cellular properties>,"m":[…]}`` + ``"\\r\\n"``: per module the slot's maximum size
       (``s``), store (``l``), validity checked/passed (``vc``/``vv``), the user part's SHA-256 in
       upper-case hex (``u``), function letter, index as a string, version, dependencies
``m``  ``Your device MAC address is`` + the MAC in upper-case hex
``c``  ``Device claimed: no``; ``C`` reads a 63-character claim code
``f``  5.x: ``Waiting for the binary file …`` then a YModem receiver (not modelled: the twin
       cancels it with CAN CAN); 6.x: that line, four CAN bytes, ``Serial/YModem flashing is no
       longer supported``
``x``  leaves listening mode (no output); ``L`` resets into safe-mode listening
``d``  the diagnostics document (a JSON object of diagnostic sources)
=====  ====================================================================================

Modelling assumptions: the Cell Radio Version is a fixed string of the platform's modem family;
``d`` carries a small set of real Device OS diagnostic source names with the values a device
that never connected would report. Wi-Fi setup (``w`` on the Argon) is not modelled (no answer).
"""

from __future__ import annotations

import json
from pathlib import Path

from station.domain import ModuleFunction
from station.sim.device import Twin
from station.sim.firmware_view import system_module_version, system_version

#: per-twin console settings (sim only): {"id_form": "short" | "long"} forces one ``i`` form
CONSOLE_SETTINGS = "console.json"
#: ``f`` stopped offering YModem in this Device OS (v6.0.0 system_setup.cpp)
YMODEM_REMOVED_SINCE = 6000
CAN = b"\x18"
CLAIM_CODE_LENGTH = 63
#: the modem firmware version string a platform's modem family reports (twin assumption)
CELL_RADIO_VERSIONS = {
    "boron": "L0.0.00.00.05.12,A.02.21",  # u-blox SARA-R410M-02B
    "bsom": "L0.0.00.00.05.12,A.02.21",
    "b5som": "EG91EXGAR08A05M1G",  # Quectel EG91-EX
    "tracker": "EG91NAXGAR07A07M1G",  # Quectel EG91-NAX
    "esomx": "EG91EXGAR08A05M1G",
}
_LETTERS = {
    int(ModuleFunction.RESOURCE): "r", int(ModuleFunction.BOOTLOADER): "b", int(ModuleFunction.MONOLITHIC): "m",
    int(ModuleFunction.SYSTEM_PART): "s", int(ModuleFunction.USER_PART): "u", int(ModuleFunction.NCP): "c",
    int(ModuleFunction.RADIO_STACK): "a",
}  # fmt: skip


def function_letter(function: int) -> str:
    """``module_function_string`` (system/inc/system_info.h)."""
    return _LETTERS.get(function, "_")


def system_properties(twin: Twin, *, cloud: bool) -> list[tuple[str, str]]:
    """``HAL_OTA_Add_System_Info``'s key/value pairs; ``cloud`` drops the secret and serial (``s``)."""
    ident = twin.identity
    out: list[tuple[str, str]] = []
    if not cloud:
        secret, serial = twin.device_secret(), twin.serial_number()  # both read from OTP, as Device OS does
        if secret and secret.isprintable():
            out.append(("ms", secret))
        if serial and serial.isprintable():
            out.append(("sn", serial))
    if twin.platform.cellular:
        out += [("imei", ident.imei or ""), ("iccid", ident.iccid or "")]
        out.append(("cellfw", CELL_RADIO_VERSIONS.get(twin.platform.name, "")))
    return out


_KEY_NAMES = {"imei": "IMEI", "iccid": "ICCID", "sn": "Serial Number", "ms": "Device Secret", "cellfw": "Cell Radio Version"}


def module_json(twin: Twin) -> list[dict[str, object]]:
    """``module_info_to_json`` for every module ``HAL_System_Info`` reports."""
    from station.sim.module_info import device_modules

    out: list[dict[str, object]] = []
    for m in device_modules(twin):
        entry: dict[str, object] = {"s": m.max_size, "l": "m", "vc": m.checked, "vv": m.passed}
        if m.function == int(ModuleFunction.USER_PART):
            entry["u"] = m.sha.hex().upper()
        entry.update(f=function_letter(m.function), n=str(m.index), v=m.version)
        entry["d"] = [{"f": function_letter(f), "n": str(i), "v": v} for f, i, v in m.deps]
        out.append(entry)
    return out


class ListeningConsole:
    """Answers the keys a host types while the twin is in listening mode. One per served port."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self._line: bytearray | None = None  # collecting a claim code (``C``)
        self._ymodem = False  # 5.x ``f``: a YModem receiver waits

    def feed(self, byte: int) -> bytes:
        if self._line is not None:
            return self._claim_code_byte(byte)
        if self._ymodem:
            return self._ymodem_byte(byte)
        return self.key(chr(byte))

    # ------------------------------------------------------------------ single keys
    def key(self, key: str) -> bytes:
        twin = self.twin
        if key == "i":
            return self._identify()
        if key == "v":
            return f"system firmware version: {system_version(twin)}\n\r\n".encode()
        if key == "s":
            doc: dict[str, object] = {"p": twin.reported_platform.id}
            doc.update(system_properties(twin, cloud=True))
            doc["m"] = module_json(twin)
            return (json.dumps(doc, separators=(",", ":")) + "\r\n").encode()
        if key == "m":
            return f"Your device MAC address is\r\n{mac_address(twin)}\r\n".encode()
        if key == "c":
            return b"Device claimed: no\r\n"
        if key == "C":
            self._line = bytearray()
            return b"Enter 63-digit claim code: "
        if key == "f":
            head = b"Waiting for the binary file to be sent ... (press 'a' to abort)\r\n"
            if (system_module_version(twin) or 0) >= YMODEM_REMOVED_SINCE:
                return head + CAN * 4 + b"Serial/YModem flashing is no longer supported\r\n"
            self._ymodem = True
            return head
        if key == "x":
            from station.sim.listening import leave_listening

            leave_listening(twin, cause="serial")
            return b""
        if key == "L":
            from station.sim.boot import boot_device
            from station.sim.listening import start_listening

            state = boot_device(twin, cause="serial-safe-mode-listen")
            if state.run_state != "dfu":
                start_listening(twin, cause="safe-mode-listen")
            return b""
        if key == "d":
            return (json.dumps(_diagnostics(), separators=(",", ":")) + "\r\n").encode()
        return b""

    def _identify(self) -> bytes:
        twin = self.twin
        props = system_properties(twin, cloud=False)
        if not props or self._forced_form() == "short":
            return f"Your device id is {twin.device_id}\r\n".encode()
        lines = [f"Device ID: {twin.device_id}"] + [f"{_KEY_NAMES.get(k, k)}: {v}" for k, v in props]
        return ("\r\n".join(lines) + "\r\n").encode()

    def _forced_form(self) -> str | None:
        path = Path(self.twin.path) / CONSOLE_SETTINGS
        if path.exists():
            form = json.loads(path.read_text()).get("id_form")
            if form in ("short", "long"):
                return str(form)
        return None

    # ------------------------------------------------------------------ multi-byte keys
    def _claim_code_byte(self, byte: int) -> bytes:
        assert self._line is not None
        if byte not in (10, 13):
            if len(self._line) < CLAIM_CODE_LENGTH:
                self._line.append(byte)
            return bytes([byte])  # serialReadLine echoes
        code, self._line = bytes(self._line).decode("ascii", "replace"), None
        if len(code) == CLAIM_CODE_LENGTH:
            self.twin.events.record("claim_code_set")
            return f"\r\nClaim code set to: {code}\r\n".encode()
        return b"\r\nSorry, claim code is not 63 characters long. Claim code unchanged.\r\n"

    def _ymodem_byte(self, byte: int) -> bytes:
        if byte == ord("a"):
            self._ymodem = False
            return b""
        if byte in (0x01, 0x02):  # SOH / STX: a sender started; the twin has no YModem receiver
            self._ymodem = False
            return CAN * 2
        return b""


def _diagnostics() -> dict[str, int]:
    """Diagnostic sources of a device that has never connected (names from services/inc/diagnostics.h)."""
    return {"sys:reset": 0, "mem:free": 0, "app:loop": 0, "net:stat": 0, "net:connatt": 0, "cloud:stat": 0,
            "cloud:connatt": 0, "cloud:dconn": 0}  # fmt: skip


def mac_address(twin: Twin) -> str:
    """A stable, locally administered MAC derived from the device ID (the twin's radio has no burnt-in one)."""
    raw = bytes.fromhex(twin.device_id)[-6:]
    first = (raw[0] | 0x02) & 0xFE
    return ":".join(f"{b:02X}" for b in bytes([first]) + raw[1:])
