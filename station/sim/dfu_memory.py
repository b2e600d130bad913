"""The twin's reading of its own DfuSe memory strings: which sectors each alt setting has.

The twin publishes the alt-setting strings Device OS uses (``sim/usb_descriptors.py``) and then
behaves as they say: an erase of a sector marked not erasable, or a write outside every sector,
fails as it would on the device. It reads them with this parser, written from the DfuSe
specification (ST UM0424, "DfuSe file format"/alternate setting string: ``@name/start/N*S<unit><type>,…``
groups, unit ``B``/``K``/``M`` or space, type letter ``a``..``g`` whose low three bits are
readable, erasable, writeable) and deliberately independent of the station's own parser
(``station.hw.dfu_layout``): the twin exists to check the station, so the two must not share the
code whose mistakes one of them is meant to catch.
"""

from __future__ import annotations

from dataclasses import dataclass

_MULTIPLIER = {"": 1, " ": 1, "B": 1, "K": 1 << 10, "M": 1 << 20}


@dataclass(frozen=True)
class Sector:
    """One erase unit of an alt setting's memory."""

    start: int
    size: int
    readable: bool
    erasable: bool
    writable: bool


@dataclass(frozen=True)
class _Run:
    """``count`` equal sectors from ``start`` (one ``N*S<unit><type>`` group)."""

    start: int
    size: int
    count: int
    kind: int

    @property
    def end(self) -> int:
        return self.start + self.size * self.count


class AltMemory:
    """The memory one alt setting describes, as contiguous runs of equal sectors."""

    def __init__(self, description: str) -> None:
        if not description.startswith("@"):
            raise ValueError(f"a DfuSe memory string starts with '@': {description!r}")
        fields = description[1:].split("/")
        if len(fields) < 3 or len(fields) % 2 != 1:
            raise ValueError(f"expected @name/start/sectors[/start/sectors…]: {description!r}")
        self.name = fields[0].strip()
        runs: list[_Run] = []
        for base_text, groups in zip(fields[1::2], fields[2::2], strict=True):
            base = int(base_text.strip(), 0)
            for group in groups.split(","):
                run = _parse_group(base, group.strip(), description)
                runs.append(run)
                base = run.end
        self._runs = tuple(runs)

    @property
    def start(self) -> int:
        return min(r.start for r in self._runs)

    @property
    def end(self) -> int:
        return max(r.end for r in self._runs)

    def sector(self, address: int) -> Sector | None:
        """The sector holding ``address``, or ``None`` when no sector does."""
        for run in self._runs:
            if run.start <= address < run.end:
                first = run.start + (address - run.start) // run.size * run.size
                return Sector(first, run.size, bool(run.kind & 1), bool(run.kind & 2), bool(run.kind & 4))
        return None

    def span(self, address: int, size: int) -> list[Sector]:
        """Every sector ``[address, address + size)`` touches; ``ValueError`` when part lies outside."""
        out: list[Sector] = []
        pos = address
        while pos < address + max(size, 1):
            sector = self.sector(pos)
            if sector is None:
                raise ValueError(f"{self.name}: {pos:#x} lies outside every sector")
            out.append(sector)
            pos = sector.start + sector.size
        return out


def _parse_group(base: int, group: str, description: str) -> _Run:
    count_text, star, rest = group.partition("*")
    if not star or not count_text.isdigit() or len(rest) < 2:
        raise ValueError(f"bad sector group {group!r} in {description!r}")
    kind_letter, digits_unit = rest[-1], rest[:-1]
    unit = digits_unit[-1] if digits_unit and not digits_unit[-1].isdigit() else ""
    digits = digits_unit[: len(digits_unit) - len(unit)]
    if not digits.isdigit() or unit not in _MULTIPLIER or not "a" <= kind_letter <= "g":
        raise ValueError(f"bad sector group {group!r} in {description!r}")
    return _Run(base, int(digits) * _MULTIPLIER[unit], int(count_text), ord(kind_letter) - ord("a") + 1)
