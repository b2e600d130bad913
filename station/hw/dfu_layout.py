"""DfuSe memory layouts: the alt-setting strings a DFU device uses to describe its memory.

A DfuSe device names each alternate setting with a string such as
``@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg`` — a name, then one or more
``/start/count*size<unit><attr>`` groups. The attribute letter says what the host may do with
those sectors (a readable, b erasable, d writable and their sums up to g). Reading the layout
from the device, instead of hard-coding addresses, is what lets the station erase exactly the
sectors a module touches and refuse to write read-only or forbidden regions before it tries.
The twin reads its own strings with its own parser (``station.sim.dfu_memory``), so each checks the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_UNITS = {" ": 1, "B": 1, "K": 1024, "M": 1024 * 1024}
_SECTORS_RE = re.compile(r"^\s*(\d+)\*(\d+)\s*([ BKM]?)([a-g])\s*$")
_READ, _ERASE, _WRITE = 1, 2, 4


@dataclass(frozen=True)
class Segment:
    """``count`` sectors of ``sector_size`` bytes each, starting at ``start``."""

    start: int
    sector_size: int
    count: int
    attrs: int  # bit 0 readable, bit 1 erasable, bit 2 writable (DfuSe letters a..g = 1..7)

    @property
    def end(self) -> int:
        return self.start + self.sector_size * self.count

    @property
    def readable(self) -> bool:
        return bool(self.attrs & _READ)

    @property
    def erasable(self) -> bool:
        return bool(self.attrs & _ERASE)

    @property
    def writable(self) -> bool:
        return bool(self.attrs & _WRITE)


@dataclass(frozen=True)
class Sector:
    start: int
    size: int
    segment: Segment

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class MemoryLayout:
    name: str
    segments: tuple[Segment, ...]

    @property
    def start(self) -> int:
        return min(s.start for s in self.segments)

    @property
    def end(self) -> int:
        return max(s.end for s in self.segments)

    def contains(self, address: int, size: int = 1) -> bool:
        """True if [address, address+size) lies entirely inside described sectors."""
        return all(self.sector_at(a) is not None for a in self._probe_points(address, size))

    def sector_at(self, address: int) -> Sector | None:
        for seg in self.segments:
            if seg.start <= address < seg.end:
                index = (address - seg.start) // seg.sector_size
                return Sector(seg.start + index * seg.sector_size, seg.sector_size, seg)
        return None

    def sectors(self, address: int, size: int) -> Iterator[Sector]:
        """Every sector that [address, address+size) touches, in order; ``ValueError`` if outside."""
        pos, end = address, address + size
        while pos < end:
            sector = self.sector_at(pos)
            if sector is None:
                raise ValueError(f"{self.name}: address {pos:#010x} is outside the device's memory")
            yield sector
            pos = sector.end

    def _probe_points(self, address: int, size: int) -> list[int]:
        try:
            return [s.start for s in self.sectors(address, max(size, 1))] or [address]
        except ValueError:
            return [-1]


def parse_layout(text: str) -> MemoryLayout:
    """Parse one DfuSe alt-setting string; ``ValueError`` on anything that does not fit the syntax."""
    if not text.startswith("@"):
        raise ValueError(f"not a DfuSe memory layout: {text!r}")
    parts = text[1:].split("/")
    if len(parts) < 3 or len(parts) % 2 == 0:
        raise ValueError(f"not a DfuSe memory layout: {text!r}")
    name = parts[0].strip()
    segments: list[Segment] = []
    for addr_text, sectors_text in zip(parts[1::2], parts[2::2], strict=True):
        try:
            pos = int(addr_text.strip(), 16)
        except ValueError:
            raise ValueError(f"bad start address {addr_text!r} in {text!r}") from None
        for group in sectors_text.split(","):
            m = _SECTORS_RE.match(group)
            if not m:
                raise ValueError(f"bad sector group {group!r} in {text!r}")
            count, size, unit, attr = int(m[1]), int(m[2]), m[3] or " ", m[4]
            seg = Segment(pos, size * _UNITS[unit], count, ord(attr) - ord("a") + 1)
            segments.append(seg)
            pos = seg.end
    return MemoryLayout(name, tuple(segments))
