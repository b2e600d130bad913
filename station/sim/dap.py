"""The debug port of a twin: SW-DP, the AHB-AP (a MEM-AP) and Nordic's CTRL-AP, at register level.

This is the layer a CMSIS-DAP probe talks to, so pyocd's own ADIv5 code (discovery, MEM-AP
auto-increment, packed transfers, the nRF52 unlock sequence) runs unchanged against it. The
identification values are the real ones (traced from pyocd against an nRF52840, see
shared/research/pyocd-twin.md).

The ACKs follow ADIv5 (IHI 0031, "Sticky flags and DP error responses"): once a sticky error flag
is set in CTRL/STAT, the SW-DP answers FAULT to every access except reads of DPIDR and CTRL/STAT
and writes to ABORT, and performs none of them, until ABORT clears the flag (STKERRCLR,
STKCMPCLR, ORUNERRCLR, WDERRCLR, each clearing its own). pyocd's ``clear_sticky_err`` is that
ABORT write. Faithful details that matter to a station: with APPROTECT on, CSW.DeviceEn reads 0 and every
AHB-AP data access faults (sets CTRL/STAT.STICKYERR); the CTRL-AP stays reachable and is the only
way back (ERASEALL). The MEM-AP auto-increment wraps at the 4 KB boundary; pyocd splits block
transfers there itself, so the packed fast paths only ever see one page.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

DPIDR = 0x2BA01477
AHB_AP_IDR = 0x24770011
CTRL_AP_IDR = 0x02880000
AHB_AP_BASE = 0xE00FF003

# DP registers (A[3:2])
DP_DPIDR, DP_CTRL_STAT, DP_SELECT, DP_RDBUFF = 0x0, 0x4, 0x8, 0xC
STICKYORUN, STICKYCMP, STICKYERR, WDATAERR = 1 << 1, 1 << 4, 1 << 5, 1 << 7
STICKY = STICKYORUN | STICKYCMP | STICKYERR | WDATAERR
# ABORT register bits (written at DP address 0x0)
STKCMPCLR, STKERRCLR, WDERRCLR, ORUNERRCLR = 1 << 1, 1 << 2, 1 << 3, 1 << 4
CDBGPWRUPREQ, CSYSPWRUPREQ = 1 << 28, 1 << 30

# MEM-AP registers
CSW, TAR, DRW, BD0, CFG, BASE, IDR = 0x00, 0x04, 0x0C, 0x10, 0xF4, 0xF8, 0xFC
CSW_DEVICEEN = 1 << 6
CSW_ADDRINC_SINGLE = 0x10
CSW_SIZE_MASK = 0x7

# CTRL-AP registers
CTRL_RESET, CTRL_ERASEALL, CTRL_ERASEALLSTATUS, CTRL_APPROTECTSTATUS = 0x000, 0x004, 0x008, 0x00C


class BusFault(Exception):
    """The AHB answered with an error (bad address, or APPROTECT)."""

    def __init__(self, address: int) -> None:
        super().__init__(f"bus fault at {address:#010x}")
        self.address = address


class SystemBus(Protocol):
    """What the AHB-AP reaches: the chip's system bus, plus the CTRL-AP's hardware actions."""

    protected: bool

    def bus_read(self, address: int, size: int) -> int: ...
    def bus_write(self, address: int, size: int, value: int) -> None: ...
    def read_block(self, address: int, nbytes: int) -> bytes | None: ...
    def write_block(self, address: int, data: bytes) -> bool: ...
    def ctrl_ap_erase_all(self) -> None: ...
    def ctrl_ap_reset(self, asserted: bool, *, closing_eraseall: bool = False) -> None: ...


class DebugPort:
    """DP + AP register file. One per twin per process; callers serialise with the twin's lock."""

    def __init__(self, bus: SystemBus) -> None:
        self.bus = bus
        self.ctrl_stat = 0
        self.select = 0
        self.rdbuff = 0
        self.csw = 0x03000002  # HPROT, 32-bit; DeviceEn is ORed in on read
        self.tar = 0
        self.ctrl_reset = 0
        self.ctrl_eraseall = 0

    # ------------------------------------------------------------------ DP
    def read_dp(self, reg: int) -> int:
        reg &= 0xC
        if reg == DP_DPIDR:
            return DPIDR
        if reg == DP_CTRL_STAT:
            c = self.ctrl_stat
            acks = ((c & CDBGPWRUPREQ) << 1) | ((c & CSYSPWRUPREQ) << 1)
            return (c & 0x50000F00) | acks | (c & STICKY)
        if reg == DP_RDBUFF:
            return self.rdbuff
        return 0

    def write_dp(self, reg: int, value: int) -> None:
        reg &= 0xC
        if reg == DP_DPIDR:  # ABORT on SW-DP: each CLR bit clears its own sticky flag
            for clr, flag in ((STKCMPCLR, STICKYCMP), (STKERRCLR, STICKYERR), (WDERRCLR, WDATAERR),
                              (ORUNERRCLR, STICKYORUN)):
                if value & clr:
                    self.ctrl_stat &= ~flag
        elif reg == DP_CTRL_STAT:
            # On SW-DP the sticky flags are read-only here (cleared through ABORT only).
            self.ctrl_stat = (value & ~STICKY) | (self.ctrl_stat & STICKY)
        elif reg == DP_SELECT:
            self.select = value

    def refuses(self, *, ap: bool, write: bool, reg: int) -> bool:
        """Whether the DP answers this access with FAULT (and does not perform it): a sticky flag is
        set and the access is not one of those ADIv5 always accepts (DPIDR and CTRL/STAT reads,
        ABORT writes), which are what a debugger uses to see and clear the error."""
        if not self.ctrl_stat & STICKY:
            return False
        if ap:
            return True
        reg &= 0xC
        if write:
            return reg != DP_DPIDR  # ABORT
        return reg not in (DP_DPIDR, DP_CTRL_STAT)

    def _ap(self, reg: int) -> tuple[int, int]:
        return (self.select >> 24) & 0xFF, (self.select & 0xF0) | (reg & 0x0C)

    # ------------------------------------------------------------------ AP dispatch
    def read_ap(self, reg: int) -> int:
        apsel, r = self._ap(reg)
        if apsel == 0:
            v = self._mem_read(r)
        elif apsel == 1:
            v = self._ctrl_read(r)
        else:
            v = 0  # no AP: reads as zero IDR, which ends pyocd's AP scan
        self.rdbuff = v
        return v

    def write_ap(self, reg: int, value: int) -> None:
        apsel, r = self._ap(reg)
        if apsel == 0:
            self._mem_write(r, value & 0xFFFFFFFF)
        elif apsel == 1:
            self._ctrl_write(r, value)

    # ------------------------------------------------------------------ CTRL-AP
    def _ctrl_read(self, r: int) -> int:
        if r == IDR:
            return CTRL_AP_IDR
        if r == CTRL_APPROTECTSTATUS:
            return 0 if self.bus.protected else 1
        if r == CTRL_ERASEALLSTATUS:
            return 0  # the erase completed inside the ERASEALL write (its time is on the clock)
        if r == CTRL_RESET:
            return self.ctrl_reset
        if r == CTRL_ERASEALL:
            return self.ctrl_eraseall
        return 0

    def _ctrl_write(self, r: int, value: int) -> None:
        if r == CTRL_ERASEALL:
            self.ctrl_eraseall = value & 1
            if value & 1:
                self.bus.ctrl_ap_erase_all()
        elif r == CTRL_RESET:
            was = self.ctrl_reset
            self.ctrl_reset = value & 1
            if was != self.ctrl_reset:
                self.bus.ctrl_ap_reset(bool(value & 1), closing_eraseall=bool(self.ctrl_eraseall))

    # ------------------------------------------------------------------ MEM-AP
    def _size(self) -> int:
        return 1 << min(self.csw & CSW_SIZE_MASK, 2)

    def _mem_read(self, r: int) -> int:
        if r == CSW:
            return self.csw | (0 if self.bus.protected else CSW_DEVICEEN)
        if r == TAR:
            return self.tar
        if r == DRW:
            return self._drw_read()
        if BD0 <= r <= BD0 + 0xC:
            return self._access(lambda: self.bus.bus_read((self.tar & ~0xF) | (r & 0xC), 4))
        if r == CFG:
            return 0
        if r == BASE:
            return AHB_AP_BASE
        if r == IDR:
            return AHB_AP_IDR
        return 0

    def _mem_write(self, r: int, value: int) -> None:
        if r == CSW:
            size = min(value & CSW_SIZE_MASK, 2)
            self.csw = (value & 0x7F000030) | size
        elif r == TAR:
            self.tar = value
        elif r == DRW:
            self._drw_write(value)
        elif BD0 <= r <= BD0 + 0xC:
            self._access(lambda: self.bus.bus_write((self.tar & ~0xF) | (r & 0xC), 4, value))

    def _access(self, op: Callable[[], int | None]) -> int:
        try:
            result = op()
        except BusFault:
            self.ctrl_stat |= STICKYERR
            raise
        return int(result or 0)

    def _increment(self, nbytes: int) -> None:
        if self.csw & 0x30 == CSW_ADDRINC_SINGLE:
            self.tar = (self.tar & ~0xFFF) | ((self.tar + nbytes) & 0xFFF)

    def _drw_read(self) -> int:
        size = self._size()
        a = self.tar
        v = self._access(lambda: self.bus.bus_read(a, size))
        if size < 4:
            v <<= 8 * (a & 3)  # byte lanes
        self._increment(size)
        return v

    def _drw_write(self, value: int) -> None:
        size = self._size()
        a = self.tar
        if size < 4:
            value = (value >> (8 * (a & 3))) & ((1 << (8 * size)) - 1)
        self._access(lambda: self.bus.bus_write(a, size, value))
        self._increment(size)

    # ------------------------------------------------------------------ packed transfers
    def _packed_ok(self, reg: int, nbytes: int) -> bool:
        apsel, r = self._ap(reg)
        return (
            apsel == 0
            and r == DRW
            and self.csw & 0x37 == CSW_ADDRINC_SINGLE | 2
            and (self.tar & 3) == 0
            and (self.tar & 0xFFF) + nbytes <= 0x1000
        )

    def read_ap_multiple(self, reg: int, count: int) -> list[int]:
        """Block read; memory blocks in one go, anything else word by word like the wire does."""
        if self._packed_ok(reg, 4 * count):
            data = self.bus.read_block(self.tar, 4 * count)
            if data is not None:
                self._increment(4 * count)
                self.rdbuff = struct.unpack_from("<I", data, 4 * (count - 1))[0] if count else self.rdbuff
                return list(struct.unpack(f"<{count}I", data))
        return [self.read_ap(reg) for _ in range(count)]

    def write_ap_multiple(self, reg: int, values: list[int]) -> None:
        if self._packed_ok(reg, 4 * len(values)):
            if self.bus.write_block(self.tar, struct.pack(f"<{len(values)}I", *values)):
                self._increment(4 * len(values))
                return
        for v in values:
            self.write_ap(reg, v)
