"""A device's CDC serial console: listening-mode queries and the factory-test protocol.

The port is found by device ID (``station.hw.ports``). Every read has a deadline, and pyserial
failures are translated: the port vanishing (unplug, reset, DFU) is ``DeviceGone``, silence is
``DeviceTimeout``, bytes that are not the protocol are ``TransportError``. The factory-test
protocol (``docs/factory-test-protocol.md``) is JSON lines with request ids; replies to other ids
and plain-text log lines are skipped, so firmware that logs to the same port still works.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any

import serial

from station.domain import normalize_device_id
from station.errors import DeviceGone, DeviceTimeout, IdentityMismatch, TransportError
from station.hw.interfaces import ListeningInfo, TestReply
from station.hw.ports import find_port

try:  # pyserial lets termios.error (not an OSError) escape from flush() on a vanished pty/tty
    import termios

    _PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - not POSIX
    _PORT_ERRORS = (serial.SerialException, OSError)

BAUD = 115200  # ignored by USB CDC; set for completeness
READ_SLICE_S = 0.05
#: after the first line of the multi-line ``i`` answer, this much silence ends the answer
QUIET_S = 0.25
_SHORT_ID = re.compile(r"your device id is\s+([0-9a-fA-F]{24})", re.IGNORECASE)
_KEY_VALUE = re.compile(r"^\s*([A-Za-z][A-Za-z .]*?)\s*:\s*(.*?)\s*$")


class SerialConsoleLink:
    """One device's serial console (implements ``SerialConsole``). Use as a context manager."""

    def __init__(self, device_id: str, port: str) -> None:
        self.device_id = normalize_device_id(device_id)
        self.port = port
        self._ser: serial.Serial | None = None
        self._buf = bytearray()
        self._ids = itertools.count(1)

    def __enter__(self) -> SerialConsoleLink:
        try:
            self._ser = serial.Serial(self.port, BAUD, timeout=READ_SLICE_S, write_timeout=2.0)
            self._ser.reset_input_buffer()  # output the device wrote before we listened is stale
        except (serial.SerialException, OSError) as exc:
            raise DeviceGone(f"{self.device_id}: cannot open serial port {self.port}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except (serial.SerialException, OSError):
                pass
            self._ser = None

    # ------------------------------------------------------------------ byte level
    def _write(self, data: bytes) -> None:
        if self._ser is None:
            raise RuntimeError("SerialConsoleLink used outside its context")
        try:
            self._ser.write(data)
            self._ser.flush()
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(f"{self.device_id}: serial write timed out on {self.port}") from exc
        except _PORT_ERRORS as exc:
            raise DeviceGone(f"{self.device_id}: serial port {self.port} vanished: {exc}") from exc

    def _readline(self, deadline: float) -> bytes | None:
        """One line without its terminator, or ``None`` once ``deadline`` passes."""
        if self._ser is None:
            raise RuntimeError("SerialConsoleLink used outside its context")
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                return line
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._ser.read(max(1, self._ser.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise DeviceGone(f"{self.device_id}: serial port {self.port} vanished: {exc}") from exc
            self._buf += chunk

    def _lines_for(self, key: bytes, timeout: float, done: Any, *, quote: bool = True) -> list[str]:
        self._buf.clear()
        self._write(key)
        final = deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            line = self._readline(deadline)
            if line is None:
                if lines:
                    return lines
                raise DeviceTimeout(f"{self.device_id}: no answer to {key!r} within {timeout:.1f} s")
            text = _text(line, self.device_id, quote=quote)
            if text.strip():
                lines.append(text)
                if done(lines):
                    return lines
                deadline = min(final, time.monotonic() + QUIET_S)

    # ------------------------------------------------------------------ listening mode
    def identify(self, timeout: float = 3.0) -> ListeningInfo:
        """``i``: parse either answer form, and check it names the device we opened.

        Device OS 5.x prints the device secret in this answer (``Device Secret:``): it is dropped
        while parsing, and no error raised here quotes the answer's text.
        """
        lines = self._lines_for(b"i", timeout, lambda ls: bool(_SHORT_ID.search(ls[0])), quote=False)
        info = parse_identify(lines)
        if info.device_id != self.device_id:
            raise IdentityMismatch(
                f"serial port {self.port} (USB serial {self.device_id}) says it is {info.device_id}"
            )
        return info

    def system_version(self, timeout: float = 3.0) -> str:
        lines = self._lines_for(b"v", timeout, lambda ls: "version" in ls[-1].lower())
        for text in lines:
            if "version" in text.lower():
                return text.split(":")[-1].strip()
        raise TransportError(f"{self.device_id}: unexpected answer to 'v': {lines[0][:60]!r}")

    def modules(self, timeout: float = 3.0) -> list[dict[str, Any]]:
        lines = self._lines_for(b"s", timeout, lambda ls: ls[-1].lstrip().startswith("{"))
        try:
            doc = json.loads(lines[-1])
            return list(doc["m"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"{self.device_id}: unreadable module list: {lines[-1][:60]!r}") from exc

    # ------------------------------------------------------------------ factory test protocol
    def call(self, cmd: str, timeout: float = 5.0, **args: Any) -> TestReply:
        """Send one request and wait for the reply with the same id."""
        rid = next(self._ids)
        self._write((json.dumps({"id": rid, "cmd": cmd, **args}, separators=(",", ":")) + "\n").encode())
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                raise DeviceTimeout(f"{self.device_id}: no reply to {cmd!r} within {timeout:.1f} s")
            text = _text(line, self.device_id)
            if not text.lstrip().startswith("{"):
                continue  # a log line from the firmware
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise TransportError(f"{self.device_id}: malformed reply to {cmd!r}: {text[:60]!r}") from exc
            if not isinstance(doc, dict) or doc.get("id") != rid:
                continue  # a late reply to an earlier request
            return TestReply(
                ok=bool(doc.get("ok")), value=doc.get("value"), unit=doc.get("unit"), error=doc.get("error"), raw=doc
            )


def _text(line: bytes, device_id: str, *, quote: bool = True) -> str:
    """Decode a line; bytes that are not printable text mean the link is garbled.

    ``quote=False`` keeps the bytes out of the error (the answer may hold the device secret).
    """
    shown = repr(line[:24]) if quote else f"({len(line)} bytes)"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TransportError(f"{device_id}: garbled serial data {shown}") from exc
    if any(ord(c) < 32 and c not in "\t" for c in text):
        raise TransportError(f"{device_id}: garbled serial data {shown}")
    return text


def parse_identify(lines: list[str]) -> ListeningInfo:
    """Both forms of listening-mode ``i``: ``Your device id is X`` or ``Device ID: X`` + ``Key: value``.

    The long form's ``Device Secret`` is discarded; ``Cell Radio Version`` and anything else
    unknown lands in ``extra``.
    """
    for text in lines:
        m = _SHORT_ID.search(text)
        if m:
            return ListeningInfo(device_id=m.group(1).lower())
    fields: dict[str, str] = {}
    for text in lines:
        m = _KEY_VALUE.match(text)
        if m:
            fields[m.group(1).strip().lower()] = m.group(2)
    fields.pop("device secret", None)  # never kept: not in the result, a log or the database
    did = fields.pop("device id", "").strip().lower()
    if not did:
        raise TransportError(f"no device ID in the answer to 'i' ({len(lines)} lines)")
    return ListeningInfo(
        device_id=did,
        serial_number=fields.pop("serial number", None),
        imei=fields.pop("imei", None),
        iccid=fields.pop("iccid", None),
        extra=fields,
    )


def open_console(device_id: str, timeout: float = 5.0) -> SerialConsoleLink:
    """The console of ``device_id`` (its port found by USB serial number); opens on ``with``."""
    return SerialConsoleLink(device_id, find_port(device_id, timeout))
