"""The app descriptor: how the twin learns what a user part would do when it runs.

A real device simply executes its user firmware. The twin cannot execute a demo module's
filler bytes, so the demo user parts carry a small, self-describing record somewhere in their
body, and the twin reads it from flash at boot:

    b"STNAPP1"  (7 bytes, magic)
    u16 little-endian length N
    N bytes of UTF-8 JSON: {"app": "product" | "factory-test",
                            "system_mode": "AUTOMATIC" | "MANUAL",
                            "name": str, "version": str}

The record is found by searching for the magic, so its position is free (the demo puts it
right after the prefix). Real firmware has no descriptor: readers must treat ``None`` as
"unknown application" and assume the safest behaviour, i.e. that it connects to the cloud.
Documented for users in ``docs/app-descriptor.md``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"STNAPP1"
APPS = ("product", "factory-test")
SYSTEM_MODES = ("AUTOMATIC", "SEMI_AUTOMATIC", "MANUAL")
_MAX_LEN = 4096


@dataclass(frozen=True)
class AppDescriptor:
    """What a demo user part declares about itself."""

    app: str  # "product" | "factory-test"
    system_mode: str  # "AUTOMATIC" | "SEMI_AUTOMATIC" | "MANUAL"
    name: str
    version: str

    @property
    def connects_to_cloud(self) -> bool:
        """MANUAL firmware stays off the network (Particle's advice for factory test firmware)."""
        return self.system_mode != "MANUAL"

    @property
    def is_factory_test(self) -> bool:
        return self.app == "factory-test"

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "system_mode": self.system_mode, "name": self.name, "version": self.version}

    def encode(self) -> bytes:
        """The bytes to embed in a module body."""
        payload = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()
        return MAGIC + struct.pack("<H", len(payload)) + payload


def read_app_descriptor(module_bytes: bytes) -> AppDescriptor | None:
    """The descriptor embedded in a user part (file or flash bytes), or None if there is none.

    A damaged record (bad length, bad JSON, unknown app) also gives None: the reader then treats
    the firmware as unknown, which is the safe assumption, instead of trusting half a record.
    """
    pos = bytes(module_bytes).find(MAGIC)
    if pos < 0:
        return None
    start = pos + len(MAGIC)
    if start + 2 > len(module_bytes):
        return None
    (length,) = struct.unpack_from("<H", module_bytes, start)
    if length == 0 or length > _MAX_LEN or start + 2 + length > len(module_bytes):
        return None
    try:
        obj = json.loads(bytes(module_bytes[start + 2 : start + 2 + length]).decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    app, mode = obj.get("app"), obj.get("system_mode")
    if app not in APPS or mode not in SYSTEM_MODES:
        return None
    return AppDescriptor(app=app, system_mode=mode, name=str(obj.get("name", "")), version=str(obj.get("version", "")))
