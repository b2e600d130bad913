"""Each twin's debug probe as a USB device: a CMSIS-DAP v2 probe's descriptors, its EP0 and its bulk pipe.

:class:`DapUsbFaces` is the serve side of the probe faces the umockdev helper publishes
(:mod:`station.sim.umockdev_helper`): it lists one probe per twin on the bench and answers the
helper's requests for them — standard control requests on EP0 from the descriptors below, and
every bulk OUT packet with the response of the twin's probe firmware
(:class:`station.sim.cmsis_dap.DapProcessor`).

What makes pyocd take a USB device for a CMSIS-DAP v2 probe (``pyusb_v2_backend.py``
``_match_cmsis_dap_v2_interface`` and ``common.filter_device_by_class``): bDeviceClass 0x00 (or
0xEF), a vendor-specific interface (class 0xFF, subclass 0) whose string contains "CMSIS-DAP",
with a bulk OUT then a bulk IN endpoint; the serial number string is the probe's unique ID. The
identity is NXP MCU-Link's (:data:`~station.sim.cmsis_dap.USB_VID`), a high-speed v2 probe, so
the endpoints are 512-byte bulk endpoints (USB 2.0 §5.8.3: high-speed bulk max packet 512) when
the twin's probe model is high speed or ``ideal``, and 64-byte ones for ``cmsis-dap-v2-fs``.

Only probes on the station's USB are listed (:meth:`~station.sim.device.State.probe_listed`): the
probe stays on the bus while its unit is lifted out of the fixture, like a real probe on a fixture
(the firmware then answers no-ACK to transfers), and leaves it when its cable is pulled
(``station sim pull-probe``) or the whole slot is unplugged. The helper then removes the device
with a ``remove`` uevent, and a program that had it open gets what libusb reports for an unplugged
device (LIBUSB_ERROR_NO_DEVICE). A probe that comes back is a new device: its key carries
``State.probe_arrivals``, so the helper adds it at a new device number and its firmware starts afresh.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from pathlib import Path
from typing import Any

from station.sim.bench import Bench
from station.sim.cmsis_dap import DAP_DISCONNECT, USB_PID, USB_VID, DapProcessor
from station.sim.device import Twin
from station.sim.usb_descriptors import (
    STR_MANUFACTURER,
    STR_PRODUCT,
    STR_SERIAL,
    ConfigurationDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    UsbFace,
)

KEY_PREFIX = "dap:"
STR_INTERFACE = 4
INTERFACE_NAME = "CMSIS-DAP v2"
EP_OUT, EP_IN = 0x01, 0x81
#: in the twin's folder: the probe's packet counts and the twin's device clock in the serving process, rewritten
#: at every DAP_Disconnect (the end of each pyocd session), for benchmarks in other processes to read
STATS_FILE = "dap_usb.json"
BULK = 0x02
SPEED_HIGH, SPEED_FULL = 480, 12

_GET_STATUS, _GET_DESCRIPTOR, _GET_CONFIGURATION = 0x00, 0x06, 0x08
_SET_CONFIGURATION, _GET_INTERFACE, _SET_INTERFACE = 0x09, 0x0A, 0x0B


def probe_face(twin: Twin, processor: DapProcessor, *, address: int = 0) -> UsbFace:
    """The descriptors of ``twin``'s probe (endpoint size = the probe's DAP packet size)."""
    size = processor.packet_size
    interface = InterfaceDescriptor(
        0, 0, 0xFF, 0x00, 0x00, iInterface=STR_INTERFACE,
        endpoints=(EndpointDescriptor(EP_OUT, BULK, size), EndpointDescriptor(EP_IN, BULK, size)),
    )  # fmt: skip
    device = DeviceDescriptor(
        idVendor=USB_VID, idProduct=USB_PID, bus=1, address=address, bcdDevice=0x0100,
        speed=3 if size == 512 else 2,  # LIBUSB_SPEED_HIGH / _FULL
    )  # fmt: skip
    strings = {
        STR_MANUFACTURER: "Station", STR_PRODUCT: f"Station twin CMSIS-DAP ({twin.name})",
        STR_SERIAL: twin.identity.probe_uid, STR_INTERFACE: INTERFACE_NAME,
    }  # fmt: skip
    return UsbFace(mode="dap", device=device, config=ConfigurationDescriptor(interfaces=((interface,),)), strings=strings)


class _Probe:
    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.processor = DapProcessor(twin)
        self.face = probe_face(twin, self.processor)
        self.lock = threading.Lock()


class DapUsbFaces:
    """The probes of a bench's twins, for the umockdev bridge (see module doc)."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self._probes: dict[str, _Probe] = {}

    def _probe(self, key: str) -> _Probe:
        probe = self._probes.get(key)
        if probe is None:
            raise KeyError(key)
        return probe

    def _listed(self) -> list[tuple[str, Twin]]:
        """(key, twin) of every probe on the station's USB now."""
        out = []
        for twin in self.bench.twins():
            st = twin.current_state()
            if st.probe_listed():
                out.append((f"{KEY_PREFIX}{twin.name}/{st.probe_arrivals}", twin))
        return out

    def keys(self) -> list[str]:
        return [key for key, _twin in self._listed()]

    def faces(self) -> list[dict[str, Any]]:
        out = []
        seen = set()
        for key, twin in self._listed():
            seen.add(key)
            probe = self._probes.get(key)
            if probe is None:
                probe = self._probes[key] = _Probe(twin)
            face = probe.face
            out.append(
                {
                    "key": key, "twin": twin.name, "vid": USB_VID, "pid": USB_PID, "bcd": face.device.bcdDevice,
                    "manufacturer": face.strings[STR_MANUFACTURER], "product": face.strings[STR_PRODUCT],
                    "serial": face.strings[STR_SERIAL], "kind": "dap", "out_ep": EP_OUT, "in_ep": EP_IN,
                    "speed": SPEED_HIGH if face.device.speed == 3 else SPEED_FULL,
                    "descriptors": (face.device.to_bytes() + face.config.to_bytes()).hex(),
                }
            )  # fmt: skip
        for key in [k for k in self._probes if k not in seen]:
            del self._probes[key]
        return out

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """One helper request for a probe face (``key`` starts with :data:`KEY_PREFIX`)."""
        op = request.get("op")
        key = str(request["key"])
        if key not in self._probes:
            return {"error": "nodev"}
        probe = self._probe(key)
        if op == "dap":
            packet = bytes.fromhex(request["data"])
            with probe.lock:
                reply = probe.processor.execute(packet)
                if packet[:1] == bytes([DAP_DISCONNECT]):
                    _write_stats(probe)
            return {"data": reply.hex(), "reply": bool(reply)}
        if op in ("alive", "altsetting"):
            return {}
        if op == "ctrl":
            return self._control(probe, bytes.fromhex(request["setup"]))
        if op == "stats":
            return {"stats": probe.processor.stats.as_dict()}
        return {"error": "unknown-op"}

    def _control(self, probe: _Probe, setup: bytes) -> dict[str, Any]:
        bm, req, value, _index, length = struct.unpack("<BBHHH", setup[:8])
        face = probe.face
        reply: bytes
        if req == _GET_DESCRIPTOR and bm == 0x80:
            kind, n = value >> 8, value & 0xFF
            if kind == 1:
                reply = face.device.to_bytes()
            elif kind == 2 and n == 0:
                reply = face.config.to_bytes()
            elif kind == 3 and (n == 0 or n in face.strings):
                reply = face.string_descriptor(n)
            else:
                return {"error": "pipe"}
        elif req == _GET_STATUS and bm & 0x80:
            reply = b"\0\0"
        elif req == _GET_CONFIGURATION and bm == 0x80:
            reply = b"\x01"
        elif req == _GET_INTERFACE and bm == 0x81:
            reply = b"\0"
        elif req in (_SET_CONFIGURATION, _SET_INTERFACE) and not bm & 0x80:
            return {}
        else:
            return {"error": "pipe"}
        return {"data": reply[:length].hex()}

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each probe's packet counts so far, by twin name."""
        return {p.twin.name: p.processor.stats.as_dict() for p in self._probes.values()}


def _write_stats(probe: _Probe) -> None:
    doc = {**probe.processor.stats.as_dict(), "device_seconds": probe.twin.clock.device_seconds, "pid": os.getpid()}
    path = probe.twin.path / STATS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def read_stats(twin_path: Path) -> dict[str, Any]:
    """What the serving process last wrote for this twin's probe (empty before its first session ended)."""
    try:
        return dict(json.loads((Path(twin_path) / STATS_FILE).read_text()))
    except (OSError, ValueError):
        return {}
