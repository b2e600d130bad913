"""Firmware files other than plain modules: Intel HEX and raw binaries with an explicit address.

Everything the station flashes ends up as a list of :class:`FlashImage` (address + bytes). A
Particle module knows its own address; an Intel HEX file carries addresses per record; a raw
binary has none, so the operator must give one (``--address``): guessing would write firmware
to the wrong place.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from intelhex import HexRecordError, IntelHex, IntelHexError

from station.domain import FlashImage
from station.errors import FirmwareError
from station.firmware.module import ModuleInfo, module_flash_image, parse_module

KINDS = ("module", "hex", "bin")


@dataclass(frozen=True)
class LoadedFirmware:
    """A firmware file understood: its kind, the module facts if any, and what to write where."""

    kind: str  # "module" | "hex" | "bin"
    images: tuple[FlashImage, ...]
    info: ModuleInfo | None = None


def looks_like_hex(data: bytes) -> bool:
    head = data[:64].lstrip()
    return head.startswith(b":") and all(c in b":0123456789abcdefABCDEF\r\n" for c in head)


def hex_segments(data: bytes) -> list[FlashImage]:
    """Contiguous segments of an Intel HEX file, in address order."""
    ih = IntelHex()
    try:
        ih.loadhex(io.StringIO(data.decode("ascii")))
    except (IntelHexError, HexRecordError, UnicodeDecodeError, ValueError) as exc:
        raise FirmwareError(f"not a valid Intel HEX file: {exc}") from exc
    out = []
    for start, stop in ih.segments():
        out.append(FlashImage(start, ih.tobinstr(start=start, size=stop - start)))
    if not out:
        raise FirmwareError("Intel HEX file holds no data records")
    return out


def to_hex(images: list[FlashImage] | tuple[FlashImage, ...]) -> bytes:
    """Write images as an Intel HEX file (for tools that want HEX, and to test the round trip)."""
    ih = IntelHex()
    for img in images:
        ih.puts(img.address, img.data)
    buf = io.StringIO()
    ih.write_hex_file(buf)
    return buf.getvalue().encode("ascii")


def load_firmware(data: bytes, *, address: int | None = None, label: str = "") -> LoadedFirmware:
    """Understand a firmware file's bytes; ``FirmwareError`` with one line if it cannot be flashed.

    Order of interpretation: Intel HEX (text), Particle module, raw binary at ``address``. A HEX
    file whose single segment is a Particle module also reports the module's facts, and must sit
    where the module says it starts.
    """
    if looks_like_hex(data):
        segs = hex_segments(data)
        info = None
        if len(segs) == 1:
            try:
                info = parse_module(segs[0].data)
            except FirmwareError:
                info = None
            if info is not None and info.start != segs[0].address:
                info = None  # a coincidental prefix: the HEX addresses rule
        images = tuple(FlashImage(s.address, s.data, label or f"hex segment 0x{s.address:X}") for s in segs)
        return LoadedFirmware("hex", images, info)
    try:
        info = parse_module(data)
    except FirmwareError as exc:
        if address is None:
            raise FirmwareError(f"{exc} (give an address to use it as a raw binary)") from exc
        return LoadedFirmware("bin", (FlashImage(address, bytes(data), label or f"raw 0x{address:X}"),))
    if address is not None and address != info.start:
        raise FirmwareError(
            f"{info.name} v{info.version} belongs at 0x{info.start:X}, not at the given address 0x{address:X}"
        )
    return LoadedFirmware("module", (module_flash_image(data, info, label),), info)
