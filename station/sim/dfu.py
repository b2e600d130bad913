"""The twin's DfuSe function: the DFU state machine of Device OS's bootloader, on the twin's memories.

Alt 0 is internal flash (NOR: erase sets 0xFF, programming ANDs bits in; ``stuck_word`` never
programs), alt 1 the DCT in external flash, alt 2 the whole external flash at 0x80000000. As on a
real device, alt 1 accepts writes: a DCT write rewrites the sector, so a host that writes it
destroys the device key (``key_lost``). Refusing that is the station's job, not the device's.

Work requested by DNLOAD happens on the next GETSTATUS (like the STM32/Device OS DfuSe
implementations), whose reply carries ``bwPollTimeout`` = the modelled NVMC time in realtime
mode; that time is charged to the twin's clock on the following GETSTATUS, so a host that
honours the poll timeout waits exactly as long as it would for hardware, and one that polls
early is held back until the flash would really be done.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from station.domain import NRF_FLASH_SIZE
from station.sim.clock import NVMC_PAGE_ERASE_S, NVMC_WORD_S
from station.sim.device import NOR_SECTOR_ERASE_S, Twin
from station.sim.dfu_memory import AltMemory
from station.sim.usb_descriptors import DFU_TRANSFER_SIZE, EXT_FLASH_BASE, alt_strings

# DFU 1.1 class requests
DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = range(7)
# DfuSe commands (first byte of a block-0 DNLOAD)
CMD_GET_COMMANDS, CMD_SET_ADDRESS, CMD_ERASE, CMD_READ_UNPROTECT = 0x00, 0x21, 0x41, 0x92


class DfuState(enum.IntEnum):
    APP_IDLE = 0
    APP_DETACH = 1
    IDLE = 2
    DNLOAD_SYNC = 3
    DNBUSY = 4
    DNLOAD_IDLE = 5
    MANIFEST_SYNC = 6
    MANIFEST = 7
    MANIFEST_WAIT_RESET = 8
    UPLOAD_IDLE = 9
    ERROR = 10


class DfuStatus(enum.IntEnum):
    OK = 0x00
    ERR_TARGET = 0x01
    ERR_FILE = 0x02
    ERR_WRITE = 0x03
    ERR_ERASE = 0x04
    ERR_CHECK_ERASED = 0x05
    ERR_PROG = 0x06
    ERR_VERIFY = 0x07
    ERR_ADDRESS = 0x08
    ERR_NOTDONE = 0x09
    ERR_FIRMWARE = 0x0A
    ERR_VENDOR = 0x0B
    ERR_USBR = 0x0C
    ERR_POR = 0x0D
    ERR_UNKNOWN = 0x0E
    ERR_STALLEDPKT = 0x0F


class Stall(Exception):
    """The device STALLs the control request (a protocol error from the host)."""


class Vanished(Exception):
    """The device disappeared from the bus while handling the request (cable pulled)."""


@dataclass
class _Pending:
    kind: str  # "set_address" | "erase" | "write" | "manifest"
    address: int = 0
    data: bytes = b""


class DfuSeFunction:
    """One twin's DFU interface while it enumerates in DFU mode (a new one per enumeration)."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.layouts: list[AltMemory] = [AltMemory(s) for s in alt_strings(twin.platform)]
        self.alt = 0
        self.state = DfuState.IDLE
        self.status = DfuStatus.OK
        self.address = 0
        self.pending: _Pending | None = None
        self.poll_ms = 0
        self._owed = 0.0
        #: set when manifestation finished: the USB layer resets the device after replying
        self.reset_requested = False

    # ------------------------------------------------------------------ requests
    def set_alt(self, alt: int) -> None:
        if not 0 <= alt < len(self.layouts):
            raise Stall(f"no alt setting {alt}")
        self.alt = alt
        self.address = self.layouts[alt].start

    def control_out(self, request: int, block: int, data: bytes) -> None:
        if request == DNLOAD:
            self._dnload(block, data)
        elif request == CLRSTATUS:
            self.state, self.status = DfuState.IDLE, DfuStatus.OK
        elif request == ABORT:
            self.state, self.pending = DfuState.IDLE, None
        elif request == DETACH:
            self.reset_requested = True
        else:
            self._stall(f"unsupported DFU OUT request {request}")

    def control_in(self, request: int, block: int, length: int) -> bytes:
        if request == GETSTATUS:
            return self._getstatus()
        if request == GETSTATE:
            return bytes([self.state])
        if request == UPLOAD:
            return self._upload(block, length)
        self._stall(f"unsupported DFU IN request {request}")
        return b""

    # ------------------------------------------------------------------ DNLOAD
    def _dnload(self, block: int, data: bytes) -> None:
        if self.state not in (DfuState.IDLE, DfuState.DNLOAD_IDLE):
            self._stall(f"DNLOAD in state {self.state.name}")
        if not data:
            self.pending = _Pending("manifest")
            self.state = DfuState.MANIFEST_SYNC
            return
        if block == 0:
            cmd = data[0]
            if cmd == CMD_SET_ADDRESS and len(data) == 5:
                self.pending = _Pending("set_address", struct.unpack_from("<I", data, 1)[0])
            elif cmd == CMD_ERASE and len(data) == 5:
                self.pending = _Pending("erase", struct.unpack_from("<I", data, 1)[0])
            elif cmd == CMD_ERASE and len(data) == 1:
                self._fail(DfuStatus.ERR_TARGET)  # mass erase: the bootloader would erase itself
                return
            else:
                self._stall(f"unknown DfuSe command {data.hex()}")
        elif block >= 2:
            address = self.address + (block - 2) * DFU_TRANSFER_SIZE
            self.pending = _Pending("write", address, bytes(data))
        else:
            self._stall("DNLOAD block 1 is reserved")
        self.state = DfuState.DNLOAD_SYNC

    def _getstatus(self) -> bytes:
        if self.state == DfuState.DNLOAD_SYNC and self.pending is not None:
            pending, self.pending = self.pending, None
            self._owed = self._execute(pending)
            if self.state != DfuState.ERROR:
                self.state = DfuState.DNBUSY
                self.poll_ms = round(self._owed * 1000) if self.twin.realtime else 0
        elif self.state == DfuState.DNBUSY:
            # The flash worked while the host waited bwPollTimeout: charge it now, so a host that
            # waited finds the clock already due and one that did not is held back here.
            self.twin.clock.advance(self._owed)
            self._owed = 0.0
            self.state, self.poll_ms = DfuState.DNLOAD_IDLE, 0
        elif self.state == DfuState.MANIFEST_SYNC:
            self.state, self.poll_ms = DfuState.MANIFEST, 0
            self.reset_requested = True  # Device OS resets right after manifestation
        reply = struct.pack("<B", self.status) + self.poll_ms.to_bytes(3, "little") + bytes([self.state, 0])
        if self.state == DfuState.MANIFEST:
            self.state = DfuState.MANIFEST_WAIT_RESET
        return reply

    def _execute(self, op: _Pending) -> float:
        """Carry out a DNLOAD request; returns the device time still to be charged to the twin's clock."""
        layout = self.layouts[self.alt]
        if op.kind == "manifest":
            return 0.0
        if op.kind == "set_address":
            if layout.sector(op.address) is None:
                self._fail(DfuStatus.ERR_ADDRESS)
            else:
                self.address = op.address
            return 0.0
        if op.kind == "erase":
            sector = layout.sector(op.address)
            if sector is None:
                self._fail(DfuStatus.ERR_ADDRESS)
                return 0.0
            if not sector.erasable:
                self._fail(DfuStatus.ERR_TARGET)
                return 0.0
            return self._erase(sector.start, sector.size)
        # write
        try:
            sectors = layout.span(op.address, len(op.data))
        except ValueError:
            self._fail(DfuStatus.ERR_ADDRESS)
            return 0.0
        if not all(s.writable for s in sectors):
            self._fail(DfuStatus.ERR_TARGET)
            return 0.0
        return self._write(op.address, op.data)

    # ------------------------------------------------------------------ memory
    def _erase(self, address: int, size: int) -> float:
        twin = self.twin
        with twin.lock:
            if self.alt == 0:
                twin.flash[address : address + size] = b"\xff" * size
                return NVMC_PAGE_ERASE_S
            if self.alt == 1:
                return 0.0  # DctMal::erase does nothing: the DCT is a file, written in place
            offset = self._ext_offset(address)
            twin.erase_ext(offset, size)  # records key_lost; charges the clock itself
            return 0.0

    def _write(self, address: int, data: bytes) -> float:
        twin = self.twin
        with twin.lock:
            if self.alt == 0:
                self._program_internal(address, data)
                seconds = NVMC_WORD_S * (len(data) // 4)
            elif self.alt == 1:
                # DctMal::write → dct_write_app_data: the file's bytes change, nothing else does.
                twin.dct_write(address, data)
                seconds = NOR_SECTOR_ERASE_S + len(data) / 256 * 0.4e-3  # LittleFS copies a block
            else:
                twin.program_ext(self._ext_offset(address), data)
                seconds = len(data) / 256 * 0.4e-3  # QSPI NOR page program ~0.4 ms per 256 B
            gone = twin.count_flash_bytes(len(data))
        if gone:
            raise Vanished("unplugged while writing flash")
        return seconds

    def _program_internal(self, address: int, data: bytes) -> None:
        if address < 0 or address + len(data) > NRF_FLASH_SIZE:
            raise Stall("write outside internal flash")
        flash = self.twin.flash
        old = int.from_bytes(flash[address : address + len(data)], "little")
        merged = bytearray((old & int.from_bytes(data, "little")).to_bytes(len(data), "little"))
        stuck = self.twin.current_faults().stuck_word
        if stuck is not None:
            word = stuck & ~3
            lo, hi = max(word, address), min(word + 4, address + len(data))
            if lo < hi:  # the stuck word keeps whatever it held before programming
                merged[lo - address : hi - address] = flash[lo:hi]
        flash[address : address + len(data)] = bytes(merged)

    def _ext_offset(self, address: int) -> int:
        return address - EXT_FLASH_BASE

    # ------------------------------------------------------------------ UPLOAD
    def _upload(self, block: int, length: int) -> bytes:
        if self.state not in (DfuState.IDLE, DfuState.UPLOAD_IDLE, DfuState.DNLOAD_IDLE):
            self._stall(f"UPLOAD in state {self.state.name}")
        if block == 0:
            self.state = DfuState.UPLOAD_IDLE
            # the commands Device OS's bootloader lists (bootloader/src/nRF52840/usbd_dfu.cpp): no
            # READ_UNPROTECT, but Particle's ENTER_SAFE_MODE (0xFA) and CLEAR_SECURITY_MODE_OVERRIDE (0xFB)
            return bytes([CMD_GET_COMMANDS, CMD_SET_ADDRESS, CMD_ERASE, 0xFA, 0xFB])
        if block < 2:
            self._stall("UPLOAD block 1 is reserved")
        layout = self.layouts[self.alt]
        address = self.address + (block - 2) * length
        end = min(address + length, layout.end)
        if address >= layout.end or not all(s.readable for s in layout.span(address, end - address)):
            self._fail(DfuStatus.ERR_ADDRESS)
            raise Stall("UPLOAD outside readable memory")
        with self.twin.lock:
            if self.alt == 0:
                data = bytes(self.twin.flash[address:end])
            elif self.alt == 1:
                data = self.twin.dct_read(address, end - address)
            else:
                off = self._ext_offset(address)
                data = bytes(self.twin.ext_flash[off : off + (end - address)])
        self.state = DfuState.UPLOAD_IDLE if len(data) == length else DfuState.IDLE
        return data

    # ------------------------------------------------------------------ errors
    def _fail(self, status: DfuStatus) -> None:
        self.state, self.status = DfuState.ERROR, status

    def _stall(self, why: str) -> None:
        self.state = DfuState.ERROR
        self.status = DfuStatus.ERR_STALLEDPKT
        raise Stall(why)
